"""``pos dashboard``: a live page of the chain and the pipeline, pushed to the browser."""
