from __future__ import annotations

import numpy as np
import pytest
import torch

from w2v.errors import W2VError
from w2v.vectors import Vectors


def assert_same_ranking(ours: list[tuple[str, float]], theirs: list[tuple[str, float]]) -> None:
    assert [word for word, _ in ours] == [word for word, _ in theirs]
    np.testing.assert_allclose([s for _, s in ours], [s for _, s in theirs], rtol=0, atol=1e-5)


def some_words(vectors: Vectors, count: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    return [vectors.words[i] for i in rng.choice(len(vectors), count, replace=False)]


def test_basic_lookup(vectors: Vectors):
    word = vectors.words[7]

    assert len(vectors) == len(vectors.words) == 365
    assert vectors.dim == 16
    assert word in vectors and "no-such-word" not in vectors
    np.testing.assert_array_equal(vectors[word], vectors.vectors[7])
    assert vectors.get_index(word) == 7
    assert vectors.counts[0] > vectors.counts[-1]


def test_unit_rows_have_length_one_and_are_cached(vectors: Vectors):
    np.testing.assert_allclose(np.linalg.norm(vectors.unit, axis=1), 1, rtol=1e-6)
    assert vectors.unit is vectors.unit


def test_zero_vector_scores_zero():
    vectors = Vectors(["zero", "a", "b"], np.array([[0, 0], [1, 0], [1, 1]]))

    assert vectors.similarity("zero", "a") == 0
    assert vectors.most_similar("a", 2)[1] == ("zero", 0.0)


@pytest.mark.parametrize("topn", [1, 5, 20])
def test_most_similar_equals_gensim(vectors: Vectors, gensim_kv, topn: int):
    for word in some_words(vectors, 10, seed=topn):
        assert_same_ranking(
            vectors.most_similar(word, topn), gensim_kv.most_similar(word, topn=topn)
        )


def test_most_similar_with_positive_and_negative_equals_gensim(vectors: Vectors, gensim_kv):
    positive, negative = some_words(vectors, 3, seed=1), some_words(vectors, 2, seed=2)

    ours = vectors.most_similar(positive=positive, negative=negative, topn=8)

    assert_same_ranking(ours, gensim_kv.most_similar(positive=positive, negative=negative, topn=8))
    assert not {word for word, _ in ours} & {*positive, *negative}


def a_vector(vectors: Vectors) -> np.ndarray:
    return np.random.default_rng(7).normal(size=vectors.dim).astype(np.float32)


MOST_SIMILAR_QUERIES = [
    {"positive": "king"},
    {"positive": ["capital-to1", "capital-from2"], "negative": ["capital-from1"], "topn": 7},
    {"positive": [("capital-to1", 2.0), "paris"], "negative": [("King", 0.5)], "topn": 4},
    {"positive": ["VECTOR"], "topn": 5},
    {"positive": ["king"], "restrict_vocab": 100},
    {"positive": ["king", "VECTOR"], "negative": "paris", "restrict_vocab": 50, "topn": 3},
    {"negative": ["filler3"], "topn": 6},
]


@pytest.mark.parametrize("query", MOST_SIMILAR_QUERIES)
def test_most_similar_takes_gensims_arguments_and_gives_its_numbers(
    vectors: Vectors, gensim_kv, query: dict
):
    def with_vector(terms):
        if isinstance(terms, str) or terms is None:
            return terms
        return [a_vector(vectors) if term == "VECTOR" else term for term in terms]

    query = {**query, **{side: with_vector(query.get(side)) for side in ("positive", "negative")}}

    assert_same_ranking(vectors.most_similar(**query), gensim_kv.most_similar(**query))
    all_scores = vectors.most_similar(**{**query, "topn": None})
    np.testing.assert_allclose(
        all_scores, gensim_kv.most_similar(**{**query, "topn": None}), rtol=0, atol=1e-5
    )


def test_most_similar_batch_is_most_similar_for_each_query(vectors: Vectors):
    queries = [(["king"], None), (["capital-to1", "capital-from2"], ["capital-from1"]),
               ("paris", ())]

    batched = vectors.most_similar_batch(queries, topn=5, restrict_vocab=200)

    assert len(batched) == len(queries)
    for (positive, negative), found in zip(queries, batched):
        alone = vectors.most_similar(positive, negative, topn=5, restrict_vocab=200)
        assert_same_ranking(found, alone)  # one matrix product or several: the same to rounding


@pytest.mark.parametrize("restrict_vocab", [None, 30])
def test_similar_by_vector_and_by_word_equal_gensim(
    vectors: Vectors, gensim_kv, restrict_vocab: int | None
):
    vector = a_vector(vectors)

    assert_same_ranking(
        vectors.similar_by_vector(vector, 8, restrict_vocab),
        gensim_kv.similar_by_vector(vector, 8, restrict_vocab),
    )
    assert_same_ranking(
        vectors.similar_by_word("king", 8, restrict_vocab),
        gensim_kv.similar_by_word("king", 8, restrict_vocab),
    )
    assert vectors.similar_by_key("king", 8) == vectors.most_similar("king", 8)


def test_pair_verbs_equal_gensim(vectors: Vectors, gensim_kv):
    for seed in range(5):
        first, second = some_words(vectors, 2, seed=seed)
        assert vectors.similarity(first, second) == pytest.approx(
            gensim_kv.similarity(first, second), abs=1e-5
        )
        assert vectors.distance(first, second) == pytest.approx(
            gensim_kv.distance(first, second), abs=1e-5
        )
        assert vectors.rank(first, second) == gensim_kv.rank(first, second)
        assert vectors.closer_than(first, second) == gensim_kv.closer_than(first, second)
        assert vectors.words_closer_than(first, second) == vectors.closer_than(first, second)


def test_set_verbs_equal_gensim(vectors: Vectors, gensim_kv):
    for seed in range(5):
        words = some_words(vectors, 6, seed=seed)
        assert vectors.doesnt_match(words) == gensim_kv.doesnt_match(words)
        ours, theirs = vectors.rank_by_centrality(words), gensim_kv.rank_by_centrality(words)
        assert [w for _, w in ours] == [w for _, w in theirs]
        np.testing.assert_allclose([d for d, _ in ours], [d for d, _ in theirs], atol=1e-5)
        assert vectors.n_similarity(words[:2], words[2:]) == pytest.approx(
            gensim_kv.n_similarity(words[:2], words[2:]), abs=1e-5
        )


@pytest.mark.parametrize("pre_normalize", [True, False])
@pytest.mark.parametrize("post_normalize", [True, False])
def test_get_mean_vector_equals_gensim(
    vectors: Vectors, gensim_kv, pre_normalize: bool, post_normalize: bool
):
    keys = ["king", "paris", a_vector(vectors), "not-a-word"]  # unknown words are skipped
    options = {"pre_normalize": pre_normalize, "post_normalize": post_normalize}

    for weights in (None, [1.0, -0.5, 2.0, 3.0]):
        np.testing.assert_allclose(
            vectors.get_mean_vector(keys, weights, **options),
            gensim_kv.get_mean_vector(keys, weights, **options),
            rtol=0,
            atol=1e-5,
        )
    with pytest.raises(W2VError, match="unknown word 'not-a-word'"):
        vectors.get_mean_vector(keys, ignore_missing=False)


def test_distances_and_vectors_equal_gensim(vectors: Vectors, gensim_kv):
    vector, others = a_vector(vectors), some_words(vectors, 4, seed=9)

    np.testing.assert_allclose(vectors.distances("king"), gensim_kv.distances("king"), atol=1e-5)
    np.testing.assert_allclose(
        vectors.distances(vector, others), gensim_kv.distances(vector, others), atol=1e-5
    )
    np.testing.assert_allclose(
        vectors.get_vector("king", norm=True), gensim_kv.get_vector("king", norm=True), atol=1e-6
    )
    assert vectors.index_to_key == gensim_kv.index_to_key
    assert vectors.vector_size == gensim_kv.vector_size


def test_query_mistakes_are_errors(vectors: Vectors):
    with pytest.raises(W2VError, match="a query vector must have 16 values, not shape \\(3,\\)"):
        vectors.most_similar([np.ones(3)])
    with pytest.raises(W2VError, match="restrict_vocab must be a positive number"):
        vectors.most_similar("king", restrict_vocab=0)
    with pytest.raises(W2VError, match=r"k must be between 1 and 9 \(the first 10 words"):
        vectors.most_similar(vectors.words[0], 10, restrict_vocab=10)
    with pytest.raises(W2VError, match="at least one word on each side"):
        vectors.n_similarity([], ["king"])
    with pytest.raises(W2VError, match="cannot rank an empty list"):
        vectors.doesnt_match([])


def test_analogy_3cosadd_equals_gensim_most_similar(vectors: Vectors, gensim_kv):
    for i in range(10):
        a, b, c = f"capital-from{i}", f"capital-to{i}", f"capital-from{i + 1}"
        assert_same_ranking(
            vectors.analogy(a, b, c, k=5),
            gensim_kv.most_similar(positive=[b, c], negative=[a], topn=5),
        )


# gensim's most_similar_cosmul calls its own deprecated init_sims.
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_analogy_3cosmul_equals_gensim_most_similar_cosmul(vectors: Vectors, gensim_kv):
    for i in range(10):
        a, b, c = f"female-from{i}", f"female-to{i}", f"female-from{i + 2}"
        assert_same_ranking(
            vectors.analogy(a, b, c, k=5, method="3cosmul"),
            gensim_kv.most_similar_cosmul(positive=[b, c], negative=[a], topn=5),
        )


def test_analogy_recovers_most_of_the_generated_structure(vectors: Vectors):
    right = [
        vectors.analogy(f"capital-from{i}", f"capital-to{i}", f"capital-from{j}", k=1)[0][0]
        == f"capital-to{j}"
        for i in range(40)
        for j in range(40)
        if i != j
    ]

    assert 0.5 < np.mean(right) < 0.9


def test_similarity_equals_gensim(vectors: Vectors, gensim_kv):
    first, second = some_words(vectors, 2, seed=3)

    assert vectors.similarity(first, second) == pytest.approx(
        float(gensim_kv.similarity(first, second)), abs=1e-6
    )
    assert vectors.similarity(first, first) == pytest.approx(1, abs=1e-6)


def test_unknown_word_names_close_words(vectors: Vectors):
    with pytest.raises(W2VError) as error:
        vectors.most_similar("capitl-from1")

    message = str(error.value)
    assert message.startswith("unknown word 'capitl-from1'; close words in the vocabulary: ")
    assert message.split(": ")[1].split(", ")[0] == "capital-from1"
    assert message.count(", ") == 2 and "\n" not in message


def test_unknown_word_without_close_words(vectors: Vectors):
    with pytest.raises(
        W2VError, match=r"^unknown word 'zzzzzz'; no close words in the vocabulary$"
    ):
        vectors["zzzzzz"]


def test_suggest_prefers_frequent_words_among_equally_close_ones():
    vectors = Vectors(["the", "chip", "chop", "intel", "chips"], np.eye(5))

    assert vectors.suggest("chpi") == ["chip", "chop", "chips"]
    assert vectors.suggest("chpi", n=1) == ["chip"]
    assert vectors.suggest("xyz") == []


@pytest.mark.parametrize("k", [0, -1, 363])
def test_k_out_of_range(vectors: Vectors, k: int):
    with pytest.raises(W2VError, match=r"k must be between 1 and 362 \(the 365 words"):
        vectors.analogy("capital-from1", "capital-to1", "capital-from2", k=k)


def test_k_up_to_all_other_words(vectors: Vectors):
    ranked = vectors.most_similar("capital-from1", 364)

    assert len(ranked) == 364 and "capital-from1" not in dict(ranked)
    with pytest.raises(W2VError, match=r"between 1 and 364"):
        vectors.most_similar("capital-from1", 365)


def test_most_similar_needs_a_word(vectors: Vectors):
    with pytest.raises(W2VError, match="at least one word or vector"):
        vectors.most_similar()


def test_unknown_method(vectors: Vectors):
    with pytest.raises(W2VError, match="unknown analogy method '3cosmax'"):
        vectors.analogy("capital-from1", "capital-to1", "capital-from2", method="3cosmax")


@pytest.mark.parametrize("freeze", [True, False])
def test_to_embedding(vectors: Vectors, freeze: bool):
    embedding, index = vectors.to_embedding(freeze=freeze)

    assert index == vectors.key_to_index
    np.testing.assert_array_equal(embedding.weight.detach().numpy(), vectors.vectors)
    assert embedding.weight.requires_grad is not freeze
    assert embedding.padding_idx is None
    with torch.no_grad():
        embedding.weight.zero_()
    assert vectors.vectors.any(), "the embedding must hold a copy"


@pytest.mark.parametrize("padding_idx", [0, 5, 365])
def test_to_embedding_with_padding_row(vectors: Vectors, padding_idx: int):
    embedding, index = vectors.to_embedding(padding_idx=padding_idx)

    weight = embedding.weight.detach().numpy()
    assert weight.shape == (366, 16)
    assert embedding.padding_idx == padding_idx
    assert not weight[padding_idx].any()
    assert sorted(index.values()) == [i for i in range(366) if i != padding_idx]
    for word in vectors.words:
        np.testing.assert_array_equal(weight[index[word]], vectors[word])


def test_padding_idx_out_of_range(vectors: Vectors):
    with pytest.raises(ValueError, match="between 0 and 365"):
        vectors.to_embedding(padding_idx=366)


def test_embedding_bag_means_with_offsets(vectors: Vectors):
    bag, index = vectors.to_embedding_bag()
    bags = [["capital-from1", "capital-to1", "King"], ["paris"]]
    ids = torch.tensor([index[w] for words in bags for w in words])

    means = bag(ids, offsets=torch.tensor([0, 3])).detach().numpy()

    expected = [np.mean([vectors[w] for w in words], axis=0) for words in bags]
    np.testing.assert_allclose(means, expected, rtol=1e-6)
    assert not bag.weight.requires_grad


def test_embedding_bag_weighted_sums(vectors: Vectors):
    bag, index = vectors.to_embedding_bag(mode="sum", freeze=False)
    ids = torch.tensor([index["king"], index["paris"], index["PARIS"]])
    weights = torch.tensor([0.5, 2.0, -1.0])

    sums = bag(ids, offsets=torch.tensor([0, 1]), per_sample_weights=weights).detach().numpy()

    expected = [0.5 * vectors["king"], 2.0 * vectors["paris"] - vectors["PARIS"]]
    np.testing.assert_allclose(sums, expected, rtol=1e-6)
    assert bag.weight.requires_grad


def test_embedding_bag_padding_row_is_skipped(vectors: Vectors):
    bag, index = vectors.to_embedding_bag(padding_idx=0)

    mean = bag(torch.tensor([[0, index["king"]]])).detach().numpy()

    np.testing.assert_allclose(mean[0], vectors["king"], rtol=1e-6)


def test_vectors_need_one_row_per_unique_word():
    with pytest.raises(ValueError, match="one vector row per word"):
        Vectors(["a", "b"], np.ones((3, 2)))
    with pytest.raises(ValueError, match="not unique"):
        Vectors(["a", "a"], np.ones((2, 2)))
    with pytest.raises(ValueError, match="one count per word"):
        Vectors(["a", "b"], np.ones((2, 2)), counts=[1])
