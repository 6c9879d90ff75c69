"""``hydra/launcher=batched``: the jobs of a sweep that can share a forward pass, trained as one
model in one Lightning fit, each still writing its own run. A plugin on top of the core, which
never imports it:

    launcher    the Hydra launcher: runs every job, handing a group's members their results
    plan        which jobs share a group, and why a job runs alone
    calibrate   whether a stacked step beats the members' steps one after another, on this device
    fit         one group's fit, test and outputs
    members     each member's view of that fit: its callbacks, loggers, checkpoints and metrics
    module      the LightningModule over the members (StackedModule)
    net         K MLPs of one shape side by side (StackedMLP)
    member_sgd  SGD with each member's own lr, momentum and λ

May import: every package of mlplab; Hydra, Lightning, torch.
"""
