"""python -m rgbt.synthetic --out DIR --layout {rgbt234,lasher,gtot,vtuav} --sequences N --frames F --seed S
                          [--unaligned] [--thermal-16bit]"""
import argparse

from rgbt.synthetic.generator import SequenceSpec, generate_benchmark
from pytracking.evaluation.environment import env_settings


def main(argv=None):
    parser = argparse.ArgumentParser(prog='python -m rgbt.synthetic',
                                     description='Generate the procedural RGB-T benchmark (train and test splits).')
    parser.add_argument('--out', help='output folder (default: synthetic_path of pytracking/evaluation/local.py)')
    parser.add_argument('--layout', default='rgbt234', choices=('rgbt234', 'lasher', 'gtot', 'vtuav'))
    parser.add_argument('--sequences', type=int, default=20, help='test sequences')
    parser.add_argument('--train-sequences', type=int, default=None, help='train sequences (default: 2x --sequences)')
    parser.add_argument('--frames', type=int, default=100)
    parser.add_argument('--width', type=int, default=320)
    parser.add_argument('--height', type=int, default=256)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--unaligned', action='store_true',
                        help="a thermal camera with its own resolution and view; each sequence gets its registration.json")
    parser.add_argument('--thermal-16bit', action='store_true', help='thermal frames as 16-bit PNG raw counts')
    args = parser.parse_args(argv)
    if args.out is None:
        args.out = env_settings().synthetic_path
    train = 2 * args.sequences if args.train_sequences is None else args.train_sequences
    root = generate_benchmark(args.out, args.layout, {'train': train, 'test': args.sequences},
                              SequenceSpec(args.frames, args.width, args.height, args.unaligned, args.thermal_16bit),
                              seed=args.seed)
    print(f"synthetic benchmark ({args.layout} layout, {train} train + {args.sequences} test sequences) in {root}")


if __name__ == '__main__':
    main()
