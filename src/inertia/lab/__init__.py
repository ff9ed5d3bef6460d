"""inertia.lab: runs, fair comparisons, figures and offline HTML reports (written with :mod:`inertia.io`).

Modules (import what you need; nothing heavy is imported here):

- :mod:`inertia.lab.figures`       contour + trajectories, loss vs step/time, lr sensitivity,
  schedule curves, bar charts, trajectory GIFs.
- :mod:`inertia.lab.run_config`    ``RunConfig`` (what a run is, with its defaults) and ``ConfigError``.
- :mod:`inertia.lab.run_validation` ``validate(config)``: every setting checked before a run.
- :mod:`inertia.lab.run_storage`   the run directory (config/summary JSON, metrics CSV).
- :mod:`inertia.lab.checkpoints`   ``checkpoint.pt``: atomic save, load that unpickles data only.
- :mod:`inertia.lab.preflight`     checks that load a training run's data and model before any run directory.
- :mod:`inertia.lab.execute`       ``execute(config, run_dir)``: run, checkpoint, resume; ``load_run``.
- :mod:`inertia.lab.parallel`      ``run_many(configs, root, jobs)``.
- :mod:`inertia.lab.compare`       ``compare(...)``: fair lr tuning, seeds, leaderboard.
- :mod:`inertia.lab.run_monitors`  optimizer pathology monitors around runs (warnings in summary.json).
- :mod:`inertia.lab.compare_monitor` what the monitors saw per optimizer in a comparison.
- :mod:`inertia.lab.hyper_spec`    ``parse_hyper("momentum=0.9,betas=0.9:0.99")`` and ``check_hyper``.
- :mod:`inertia.lab.schedule_spec` ``parse_schedule("warmup:5+cosine")``.
- :mod:`inertia.lab.browser`       ``check_page(path)``: load a page in headless Chromium.
- :mod:`inertia.lab.browser_session` ``BrowserSession``: one Chromium for many pages, JS, screenshots.
- :mod:`inertia.lab.playground`    ``write_playground(out, lang)``: the offline optimizer playground;
  ``reference.python_run`` reproduces one of its runs with inertia's optimizers.
- :mod:`inertia.lab.figure_text`   ``figure_language("ko")``: figure labels in Korean.
- :mod:`inertia.lab.korean_font`   NanumGothic for matplotlib and as an embedded page subset.
"""
