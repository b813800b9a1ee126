"""Training: ``loop`` is the one training loop every task and job trains through (``fit``);
``pipeline`` runs one training run of any task start to finish (``train_run``, ``preflight``).

Nothing is imported here, so that a task module can import ``engine.training.loop`` while
``engine.training.pipeline`` imports the task registry.
"""
