"""Map products built on the pipeline: one frame as a map, mosaics, globes, fly-bys.

The top of the library (only the CLI and the batch runner sit above): these modules
navigate frames with :mod:`junocam.planet`, run recipes with the projection in place
of the stitcher (:class:`junocam.pipeline.Pipeline`) and write the products.

Modules
-------
frame
    One frame's geometry (kernels, navigation) and its map.
blend
    Pure blending of projected frames: weights, brightness gains, the accumulator.
mosaic
    Several frames on one grid, from files to the written mosaic.
store
    The map files on disk: compressed arrays, the JSON sidecar, reading a map back.
geotiff
    GIS-ready GeoTIFF maps in the body's coordinate reference system (``junocam[gis]``).
globe
    A map wrapped on the body's spheroid, seen from a virtual camera.
flyby
    Views along the spacecraft's path and the movie file.
spiceview
    ``junocam process --kernels``: a frame's stitched picture with its SPICE geometry.

Examples
--------
>>> from junocam.maps import MapOptions
>>> from pathlib import Path
>>> MapOptions(Path("maps")).projection
'equirectangular'
"""

from __future__ import annotations

from .blend import Mosaic, MosaicAccumulator, fit_gains, quality_weight
from .flyby import encode_movie, flyby_views
from .frame import FrameGeometry, MapOptions, frame_geometry, map_file, map_frame
from .geotiff import Georeference, georeference, write_colour_geotiff, write_float_geotiff
from .globe import GlobeView, render_globe, subsolar_point
from .mosaic import MosaicOptions, mosaic_files, mosaic_frames
from .spiceview import ViewResampler, process_with_kernels
from .store import load_map

__all__ = [
    "FrameGeometry",
    "MapOptions",
    "MosaicOptions",
    "frame_geometry",
    "map_frame",
    "map_file",
    "mosaic_frames",
    "mosaic_files",
    "load_map",
    "Georeference",
    "georeference",
    "write_colour_geotiff",
    "write_float_geotiff",
    "Mosaic",
    "MosaicAccumulator",
    "fit_gains",
    "quality_weight",
    "GlobeView",
    "render_globe",
    "subsolar_point",
    "flyby_views",
    "encode_movie",
    "ViewResampler",
    "process_with_kernels",
]
