"""inertia.io: the files that the lab and the diagnostics write.

A library layer: it imports neither the applications (cli, lab, bench) nor the diagnostics.

- :mod:`inertia.io.atomic`        ``atomic_write_bytes`` / ``atomic_write_text`` (temporary file + ``os.replace``),
  ``unwritable_reason`` (the output-path check made before long work starts), ``check_output_directory``
  (a non-empty path that is not an existing file).
- :mod:`inertia.io.json_files`    ``write_json`` / ``read_json``: strict JSON (non-finite floats as null).
- :mod:`inertia.io.report`        ``Report`` -> self-contained ``index.html`` (images as data: URIs).
- :mod:`inertia.io.report_parts`  ``Image``, ``Table``, ``Section``, ``figure_to_png``, ``format_cell``.
- :mod:`inertia.io.report_html`   the page's HTML and inline stylesheet.
"""
