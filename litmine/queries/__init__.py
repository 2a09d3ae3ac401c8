"""The dashboard's read-only query layer, split by what the dashboard asks.

Each page imports the module it shows; nothing is re-exported here.

- :mod:`~litmine.queries.base`: the read-only connection, :class:`~litmine.queries.base.Filters`,
  the paper columns and the list of papers behind a number, shared by every page;
- :mod:`~litmine.queries.corpus`: corpus size, months and categories (overview and sidebar);
- :mod:`~litmine.queries.evolution`, :mod:`~litmine.queries.indicators`,
  :mod:`~litmine.queries.map`, :mod:`~litmine.queries.methods`: the pages of those names;
- :mod:`~litmine.queries.search` and :mod:`~litmine.queries.paper`: the Explorer's searches and
  the paper view;
- :mod:`~litmine.queries.review`: the review queue and the corrections file it appends to;
- :mod:`~litmine.queries.export`: the row count the Export page shows.
"""
