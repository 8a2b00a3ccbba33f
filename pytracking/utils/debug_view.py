"""--debug views: per frame, the RGB and TIR crops with the box, the score map and the state,
saved as PNG files with matplotlib (one figure per frame)."""
from pathlib import Path

import numpy as np


class DebugWriter:
    def __init__(self, out_dir):
        self.out_dir = Path(out_dir)

    def __call__(self, sequence, index: int, image, output: dict) -> None:
        import matplotlib  # deferred: only plots need matplotlib, its backend chosen before pyplot
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt  # after the backend is chosen
        folder = self.out_dir / sequence.name
        folder.mkdir(parents=True, exist_ok=True)
        fig, axes = plt.subplots(1, 3, figsize=(12, 4), dpi=80)
        x, y, w, h = output['target_bbox']
        for ax, frame, title in zip(axes[:2], image, ('RGB', 'TIR')):
            ax.imshow(frame)
            ax.add_patch(plt.Rectangle((x, y), w, h, fill=False, color='lime', linewidth=2))
            ax.set_title(f"{title} frame {index}")
            ax.axis('off')
        scores = output.get('scores')
        if scores is not None:
            axes[2].imshow(np.asarray(scores), cmap='jet')
            axes[2].set_title(f"scores (max {float(np.max(np.asarray(scores))):.2f}), {output.get('flag')}")
        axes[2].axis('off')
        fig.tight_layout()
        fig.savefig(folder / f"{index:05d}.png")
        plt.close(fig)


class VisdomView:
    """The same views sent to a running visdom server (python -m visdom.server)."""

    def __init__(self, visdom_client):
        self.vis = visdom_client

    def __call__(self, sequence, index: int, image, output: dict) -> None:
        import cv2  # deferred: the window view only
        x, y, w, h = [int(v) for v in output['target_bbox']]
        for frame, title in zip(image, ('RGB', 'TIR')):
            frame = frame.copy()
            cv2.rectangle(frame, (x, y), (x + w, y + h), (0, 255, 0), 2)
            self.vis.image(frame.transpose(2, 0, 1), win=title, opts={'title': f"{title} {sequence.name} #{index}"})
        if output.get('scores') is not None:
            self.vis.heatmap(np.flipud(np.asarray(output['scores'])), win='scores',
                             opts={'title': f"scores: {output.get('flag')}"})


def make_debug_view(out_dir, server: str = 'http://localhost', port: int = 8097):
    """visdom when a server answers, else PNG files under out_dir."""
    try:
        import visdom  # optional: only the visdom view needs it
        client = visdom.Visdom(server=server, port=port, raise_exceptions=True)
        if client.check_connection(timeout_seconds=1):
            return VisdomView(client)
    except (ImportError, OSError, ConnectionError):  # no visdom package or no server: fall back to files
        pass
    return DebugWriter(out_dir)
