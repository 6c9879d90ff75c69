"""Data sets as LightningDataModules that hold everything in memory and serve tensor batches."""
