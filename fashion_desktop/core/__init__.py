"""The Qt-free core: model specs, data, training, checkpoints and prediction."""
