"""run_video.py on video files and (fake) cameras, with the annotated output video."""
import cv2
import numpy as np
import pytest

from pytracking import run_video
from pytracking.utils import video_io
from rgbt.synthetic.generator import SequenceSpec, render_sequence


SPEC = SequenceSpec(num_frames=8, width=96, height=80)


@pytest.fixture(scope='module')
def rendered():
    return render_sequence(np.random.default_rng(3), SPEC)


def write_video(path, frames):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'mp4v'), 10, (frames[0].shape[1], frames[0].shape[0]))
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def init_text(rendered):
    return ','.join(f"{v:g}" for v in np.round(rendered[2][0]))


def test_two_video_files_are_tracked_and_written_side_by_side(rendered, network_file, tmp_path, capsys):  # noqa: F811
    rgb = write_video(tmp_path / 'rgb.mp4', rendered[0])
    tir = write_video(tmp_path / 'tir.mp4', rendered[1])
    out, video = tmp_path / 'boxes.txt', tmp_path / 'out' / 'tracked.mp4'
    assert run_video.main(['cmd_student', '--rgb', str(rgb), '--tir', str(tir), '--init', init_text(rendered),
                           '--net', str(network_file), '--out', str(out), '--save-video', str(video),
                           '--no-window']) == 0
    assert '8 frames tracked' in capsys.readouterr().out
    boxes = np.loadtxt(out, delimiter=',')
    assert boxes.shape == (8, 4) and np.allclose(boxes[0], np.round(rendered[2][0]))
    capture = cv2.VideoCapture(str(video))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 8
    assert (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))) == (192, 80)


def test_videos_of_unequal_length_are_refused(rendered, tmp_path, capsys):
    rgb = write_video(tmp_path / 'rgb.mp4', rendered[0])
    tir = write_video(tmp_path / 'tir.mp4', rendered[1][:5])
    with pytest.raises(SystemExit):
        run_video.main(['cmd_student', '--rgb', str(rgb), '--tir', str(tir), '--init', '1,1,5,5'])
    assert 'rgb.mp4 has 8 frames but' in capsys.readouterr().err


class FakeCamera:
    """A capture that delivers `frames` and then stops, as an unplugged camera does."""

    def __init__(self, frames):
        self.frames, self.index = frames, -1

    def isOpened(self):
        return True

    def get(self, prop):
        return 10.0 if prop == cv2.CAP_PROP_FPS else 0

    def grab(self):
        self.index += 1
        return self.index < len(self.frames)

    def retrieve(self):
        return True, cv2.cvtColor(self.frames[self.index], cv2.COLOR_RGB2BGR)

    def release(self):
        pass


def test_cameras_track_until_a_stream_stops_and_keep_the_boxes(rendered, network_file, tmp_path, monkeypatch,  # noqa: F811
                                                               capsys):
    cameras = {0: FakeCamera(rendered[0]), 1: FakeCamera(rendered[1][:5])}       # the thermal one stops early
    monkeypatch.setattr(video_io.cv2, 'VideoCapture', lambda camera: cameras[camera])
    out = tmp_path / 'camera_boxes.txt'
    assert run_video.main(['cmd_student', '--rgb-camera', '0', '--tir-camera', '1', '--init', init_text(rendered),
                           '--net', str(network_file), '--out', str(out), '--no-window']) == 0
    assert 'the thermal camera 1 stopped or stalled after 5 frames' in capsys.readouterr().out
    assert np.loadtxt(out, delimiter=',').shape == (5, 4)


def test_without_init_or_display_the_message_says_what_to_do(rendered, network_file, tmp_path, capsys):  # noqa: F811
    rgb = write_video(tmp_path / 'rgb.mp4', rendered[0])
    tir = write_video(tmp_path / 'tir.mp4', rendered[1])
    with pytest.raises(SystemExit):
        run_video.main(['cmd_student', '--rgb', str(rgb), '--tir', str(tir), '--net', str(network_file), '--no-window'])
    assert '--init x,y,w,h is needed' in capsys.readouterr().err
    with pytest.raises(SystemExit):
        run_video.main(['cmd_student', '--rgb-camera', '0', '--tir', str(tir)])


def test_playback_renders_ground_truth_and_results_as_mp4_and_gif(tmp_path, capsys):
    import shutil
    from pytracking.util_scripts import playback
    from rgbt.synthetic import generate_benchmark
    root = generate_benchmark(tmp_path / 'syn', 'rgbt234', {'train': 1, 'test': 1}, SPEC, seed=2, progress=False)
    gt = np.loadtxt(root / 'test' / 'test000' / 'visible.txt', delimiter=',')
    (tmp_path / 'res').mkdir()
    np.savetxt(tmp_path / 'res' / 'test000.txt', gt + [3, 0, 0, 0], fmt='%d', delimiter='\t')
    for out in (tmp_path / 'play.mp4', tmp_path / 'play.gif'):
        assert playback.main(['--dataset', 'synthetic', '--dataset-root', str(root), '--sequence', 'test000',
                              '--results', f"Shifted={tmp_path / 'res'}", '--out', str(out)]) == 0
    assert '8 frames of test000 with 1 trackers' in capsys.readouterr().out
    capture = cv2.VideoCapture(str(tmp_path / 'play.mp4'))
    ok, frame = capture.read()
    assert ok and frame.shape == (80 + 22, 192, 3)                      # legend row + RGB|TIR
    from PIL import Image
    gif = Image.open(tmp_path / 'play.gif')
    assert gif.n_frames == 8
    first = np.asarray(gif.convert('RGB'))
    x, y = int(gt[0, 0]) + 3, int(gt[0, 1]) + 22                       # the shifted box's corner, below the legend
    assert np.abs(first[y, x].astype(int) - [255, 80, 80]).max() < 40  # the first tracker's colour
    assert np.abs(first[y, x + 96].astype(int) - [255, 80, 80]).max() < 40      # and on the TIR half
    shutil.rmtree(tmp_path / 'res')
    with pytest.raises(SystemExit):
        playback.main(['--dataset', 'synthetic', '--dataset-root', str(root), '--sequence', 'nope', '--out', 'x.gif'])


def test_an_unaligned_rig_tracks_with_a_given_or_an_estimated_registration(rendered, network_file, tmp_path, capsys):
    """Thermal frames at 3/4 of the resolution: refused without a registration, tracked with the
    rig's registration.json or one estimated from the first pair (--registration auto)."""
    from rgbt.synthetic.generator import unalign
    tir_frames, _, registration = unalign(np.random.default_rng(1), rendered[1], rendered[3], SPEC.width, SPEC.height)
    width, height = (v // 2 * 2 for v in registration['tir_size'])       # mp4 frames have even sizes
    tir_frames, registration['tir_size'] = [f[:height, :width] for f in tir_frames], [width, height]
    rgb = write_video(tmp_path / 'rgb.mp4', rendered[0])
    tir = write_video(tmp_path / 'tir.mp4', tir_frames)
    common = ['cmd_student', '--rgb', str(rgb), '--tir', str(tir), '--init', init_text(rendered), '--net',
              str(network_file), '--no-window', '--overwrite']
    assert run_video.main(common + ['--out', str(tmp_path / 'none.txt')]) == 1          # the size mismatch stops it
    assert 'RGB frame 0 of the stream is 96x80 but thermal frame 0 of the stream is' in capsys.readouterr().err
    import json
    (tmp_path / 'registration.json').write_text(json.dumps(registration))
    for given in (str(tmp_path / 'registration.json'), 'auto'):
        out = tmp_path / 'boxes.txt'
        video = tmp_path / 'tracked.mp4'
        assert run_video.main(common + ['--registration', given, '--out', str(out), '--save-video', str(video)]) == 0
        assert np.loadtxt(out, delimiter=',').shape == (8, 4)
        capture = cv2.VideoCapture(str(video))
        assert (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))) == (192, 80)
    registration['tir_size'] = [SPEC.width, SPEC.height]
    (tmp_path / 'registration.json').write_text(json.dumps(registration))
    assert run_video.main(common + ['--registration', str(tmp_path / 'registration.json'), '--out', str(out)]) == 1
    assert 'was made for tir_size' in capsys.readouterr().err
