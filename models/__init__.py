"""The lecture's models on minigrad's public API: window scorer, softmax classifier, window NER tagger.

This folder is not installed: ``pip install`` packages ``minigrad`` only, so no generic top-level
``models`` package lands in site-packages where it could shadow another. Run it from the checkout:
``python -m models.ner``.
"""
