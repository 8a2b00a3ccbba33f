from .rgbt_datasets import RGBTVideoDataset, LasHeR, RGBT234, RGBT210, GTOT, Synthetic, VTUAV
