"""Default parameters of the RGB-T DiMP tracker: DiMP-18/50's (pytracking's dimp18/dimp50 parameter
files and the code defaults they rely on), declared once here."""
DEFAULTS = dict(
    # network and device
    net=None,                          # NetworkFile (set by the parameter file)
    use_gpu=True,
    threads=None,                      # torch CPU threads; None: OMP_NUM_THREADS, else the CPUs this process may use
    seed=0,                            # random shifts, dropout and refinement boxes
    debug=0,
    debug_dir=None,                    # where --debug saves figures when visdom is not running
    # speed options (each checked against float32 in tests)
    fold_batch_norm=True,              # BatchNorm folded into the preceding conv/linear weights
    channels_last=True,                # NHWC memory format for the network (faster on CPU and cuDNN)
    amp_dtype=None,                    # None, 'bfloat16' or 'float16': autocast of the feature extraction
    cudnn_benchmark=True,
    compile_backbone=False,            # torch.compile the backbone (CUDA graphs via mode='reduce-overhead' on GPU)
    backend='torch',                   # 'torch', 'onnxruntime', 'openvino' or 'tensorrt' (compute.py: ComputeChoice)
    onnx_dir=None,                     # the exported graphs; None: exported on first use under <network_path>/onnx/
    onnx_int8=False,                   # onnxruntime's int8 features graph (export_onnx.py --int8 writes it)
    default_dataset='synthetic',
    resize_tir=False,                  # thermal frames of another size than RGB: False: error; True: resized
    missing_modality='fail',           # a missing/unreadable/blank image: 'fail', 'hold' (last good one), 'zeros'
    simulate_missing=None,             # (modality, rate[, segment length]): seeded blanked segments (evaluation)
    # sampling
    image_sample_size=None,            # None: the crop size the network was trained with (288 if unknown)
    search_area_scale=5.0,
    border_mode='replicate',
    feature_stride=16,
    # sample memory and learning
    sample_memory_size=50,
    learning_rate=0.01,
    init_samples_minimum_weight=0.25,
    train_skipping=20,
    # classifier optimisation
    update_classifier=True,
    net_opt_iter=10,
    net_opt_update_iter=2,
    net_opt_hn_iter=1,
    # initial augmentation: 13 transformed samples + 2 dropout copies
    use_augmentation=True,
    augmentation={'fliplr': True, 'rotate': [10, -10, 45, -45], 'blur': [(3, 1), (1, 3), (2, 2)],
                  'relativeshift': [(0.6, 0.6), (-0.6, 0.6), (0.6, -0.6), (-0.6, -0.6)], 'dropout': (2, 0.2)},
    augmentation_expansion_factor=2,
    random_shift_factor=1 / 3,
    # advanced localisation
    advanced_localization=True,
    target_not_found_threshold=0.25,
    distractor_threshold=0.8,
    hard_negative_threshold=0.5,
    target_neighborhood_scale=2.2,
    displacement_scale=0.8,
    hard_negative_learning_rate=0.02,
    update_scale_when_uncertain=True,
    target_inside_ratio=0.2,
    # IoU-Net box refinement
    use_iou_net=True,
    use_iounet_pos_for_learning=True,
    iounet_k=3,
    num_init_random_boxes=9,
    box_jitter_pos=0.1,
    box_jitter_sz=0.5,
    maximal_aspect_ratio=6,
    box_refinement_iter=5,
    box_refinement_step_length=1.0,
    box_refinement_step_decay=1.0,
)


DIMP_SAMPLE_SIZE = 288                 # DiMP's crop size, for a network that does not record its own


def tracking_sample_size(params) -> int:
    """The tracker's crop size: image_sample_size, else the crop size the network was trained with,
    else DiMP's 288."""
    return params.image_sample_size or params.net.training_crop_size() or DIMP_SAMPLE_SIZE
