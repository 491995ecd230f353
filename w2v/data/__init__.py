"""Getting text in: download, vocabulary, encoded corpus, training batches."""
