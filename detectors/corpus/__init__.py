"""Training corpus v2: built from the source catalogue's git snapshots by ``deepfake-data build``.

See ``docs/corpus.md``. Modules: ``catalogue`` (rows and glob dialects), ``snapshots`` (reading
blobs from git), ``families`` (generator families), ``caveats`` (grid/composite/watermark rules),
``transforms``/``images``/``videos`` (applying them), ``phash`` (near duplicates), ``probe``
(container and media properties), ``build`` (the run), ``datacard``, ``cli``.
"""
