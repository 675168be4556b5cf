"""Pictures of a network and its training. Each function returns a matplotlib Figure.

matplotlib is an optional dependency (``pip install 'convnp[plot]'``), imported inside the
functions so that ``import convnp`` never needs it. When no matplotlib backend has been
chosen (no ``MPLBACKEND``, no ``backend`` in a matplotlibrc, pyplot not yet imported), the
non-interactive Agg backend is selected, so the functions work on a machine without a
display; a backend you chose is left alone.

Every function takes ``path=None``: when given, the figure is also saved there (a PNG
unless the file name says otherwise), at the figure's own size and dpi. ``figsize``
(inches) overrides the size worked out from the content.

The model functions (``feature_maps``, ``saliency``, ``activation_histograms``,
``misclassified``) run the model in eval mode and restore each layer's mode afterwards;
``saliency`` also leaves the parameters' gradients as it found them. Images may be uint8
pixels (scaled to [0, 1], as the DataLoader does) or floats prepared as in training; they
are cast to the model's dtype.

Modules: maps (feature_maps, filters, activation_histograms), training (training_curves,
confusion_matrix, misclassified), attribution (saliency, saliency_map); _figure holds the
pyplot import and the axes helpers, _model the eval-mode forward pass they share.
"""
from .attribution import saliency, saliency_map
from .maps import activation_histograms, feature_maps, filters
from .training import confusion_matrix, misclassified, training_curves

__all__ = ["feature_maps", "filters", "training_curves", "confusion_matrix", "misclassified",
           "saliency", "saliency_map", "activation_histograms"]
