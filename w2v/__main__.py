from w2v.cli import app

app()
