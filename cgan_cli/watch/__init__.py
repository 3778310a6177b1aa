"""Training a person can watch: the run's log (runlog.py), scoring the generator while it trains and keeping the
best checkpoint (evaluator.py), the live bar (progress.py), TensorBoard (board.py), plots of a run (plots.py) and
its HTML report (report.py).

The training loop (cgan_cli/trainer.py) calls the first four; `cgan plot` and `cgan report` read a run folder
through the last two. What a metric is stays cgan_cli/evaluation's and cgan_cli/metrics'.
"""
