"""A plain PyTorch training loop, tuned by hpsearch as a custom task (search_spaces/custom_pytorch.yaml).

hpsearch calls `main(config, reporter)` once per trial, in the trial's own process:
- `config` is a plain dict of the trial's values, sampled and fixed: {"learning_rate": 0.003, "hidden_size": 48, ...};
- `reporter.report(step, metrics)` hands the study an evaluation and returns True when the trial must stop now
  (the pruner cut it, or it stopped improving for `early_stopping_patience` reports);
- `reporter.save_dir` is the folder hpsearch keeps as the trial's model when the study keeps it.

The task: a binary classifier on synthetic data (20 features, a boundary with a bend in it), so the example runs
offline on a CPU in seconds a trial. Run it as a script to train once: `python search_spaces/custom_train.py`.
"""

import torch
from torch import nn


def make_data(n_train: int = 1600, n_val: int = 400, features: int = 20):
    """The same data for every trial (its own seed), so trials differ only by their values."""
    generator = torch.Generator().manual_seed(1234)
    x = torch.randn(n_train + n_val, features, generator=generator)
    w = torch.randn(features, generator=generator)
    y = ((x @ w + 2.0 * torch.sin(3 * x[:, 0])) > 0).long()
    return (x[:n_train], y[:n_train]), (x[n_train:], y[n_train:])


def make_model(features: int, hidden: int, layers: int, activation: str, dropout: float) -> nn.Module:
    act = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU}[activation]
    blocks, width = [], features
    for _ in range(layers):
        blocks += [nn.Linear(width, hidden), act(), nn.Dropout(dropout)]
        width = hidden
    return nn.Sequential(*blocks, nn.Linear(width, 2))


def main(config: dict, reporter) -> dict:
    # 1. data and model, from the trial's values (torch is already seeded by hpsearch, with study.seed)
    (x_train, y_train), (x_val, y_val) = make_data()
    model = make_model(x_train.shape[1], config["hidden_size"], config["n_layers"], config["activation"],
                       config.get("dropout", 0.0))
    optimizer = torch.optim.AdamW(model.parameters(), lr=config["learning_rate"],
                                  weight_decay=config.get("weight_decay", 0.0))
    loss_fn = nn.CrossEntropyLoss()
    batch = config["batch_size"]
    best = 0.0
    # 2. train, evaluating once an epoch: 1600 examples / 64 a batch = 25 steps an epoch
    for epoch in range(1, config["num_epochs"] + 1):
        model.train()
        for i in torch.randperm(len(x_train)).split(batch):
            optimizer.zero_grad()
            loss_fn(model(x_train[i]), y_train[i]).backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            logits = model(x_val)
            val_loss = loss_fn(logits, y_val).item()
            val_accuracy = (logits.argmax(-1) == y_val).float().mean().item()
        # 3. keep the best weights where hpsearch looks for the trial's model
        if val_accuracy > best:
            best = val_accuracy
            torch.save(model.state_dict(), reporter.save_dir / "model.pt")
        # 4. report; stop when told (pruned, or no better for early_stopping_patience epochs)
        if reporter.report(epoch, {"val_accuracy": val_accuracy, "val_loss": val_loss}):
            break
    return {"n_parameters": sum(p.numel() for p in model.parameters())}


if __name__ == "__main__":  # train once outside hpsearch, with a reporter that only prints
    from pathlib import Path
    from tempfile import mkdtemp

    class PrintingReporter:
        save_dir = Path(mkdtemp())

        def report(self, step, metrics):
            print(step, metrics)
            return False

    main({"learning_rate": 3e-3, "hidden_size": 64, "n_layers": 2, "activation": "relu", "dropout": 0.1,
          "weight_decay": 0.01, "batch_size": 64, "num_epochs": 10}, PrintingReporter())
