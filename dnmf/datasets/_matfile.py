"""Listing and loading the variables of a MATLAB .mat file, v5 (scipy.io) or v7.3 (h5py).

Shared by `dnmf.datasets.readers` (data files) and `dnmf.datasets.truth` (ground-truth files).
scipy.io and h5py are imported when a file is read, not with the package.
"""

from __future__ import annotations

import io

import numpy as np
import scipy.sparse as sp

from ._types import DataError


def is_mat73(data: bytes) -> bool:
    """True for a MATLAB v7.3 file (HDF5 with MATLAB's 512-byte text header)."""
    return data[:10] == b"MATLAB 7.3" or (len(data) > 520 and data[512:520] == b"\x89HDF\r\n\x1a\n")


def _mat_variables(data: bytes, fname: str):
    """``({variable: shape}, {variable: MATLAB class}, load)`` of a .mat file, v5 or v7.3;
    ``load(names or None)`` returns ``{variable: value}`` as ``scipy.io.loadmat`` would
    (numeric arrays in MATLAB's shape, sparse as scipy.sparse, cells as object arrays)."""
    if is_mat73(data):
        return _mat73_variables(data, fname)
    from scipy.io import loadmat, whosmat

    try:
        listing = whosmat(io.BytesIO(data))
    except Exception as exc:
        raise DataError(f"{fname} is not a readable MATLAB v5 .mat file (corrupt or "
                        f"malformed: {type(exc).__name__}: {exc}).") from None
    shapes = {n: tuple(int(s) for s in shp) for n, shp, _ in listing}
    classes = {n: c for n, _, c in listing}
    return shapes, classes, lambda names: loadmat(io.BytesIO(data), variable_names=names)


def _h5_class(obj) -> str:
    c = obj.attrs.get("MATLAB_class", b"")
    return c.decode("ascii", "replace") if isinstance(c, bytes) else str(c)


def _mat73_variables(data: bytes, fname: str):
    """MATLAB v7.3 through h5py. HDF5 stores MATLAB's column-major arrays with their axes
    reversed, so every array is transposed back to MATLAB's shape."""
    import h5py

    try:
        f = h5py.File(io.BytesIO(data), "r")
        items = [(k, f[k]) for k in f.keys() if not k.startswith("#")]
    except Exception as exc:
        raise DataError(f"{fname} is not a readable MATLAB v7.3 (HDF5) file (corrupt or "
                        f"malformed: {type(exc).__name__}).") from None
    shapes: dict[str, tuple] = {}
    classes: dict[str, str] = {}
    for k, obj in items:
        cls = _h5_class(obj)
        if isinstance(obj, h5py.Group):
            if cls and "MATLAB_sparse" in obj.attrs and "jc" in obj:
                classes[k] = "sparse"
                shapes[k] = (int(obj.attrs["MATLAB_sparse"]), int(obj["jc"].shape[0]) - 1)
            else:
                classes[k], shapes[k] = cls or "struct", (1, 1)
        elif isinstance(obj, h5py.Dataset):
            classes[k] = cls or "double"
            empty = "MATLAB_empty" in obj.attrs and bool(np.asarray(obj.attrs["MATLAB_empty"]
                                                                    ).any())
            shapes[k] = (0, 0) if empty else tuple(int(n) for n in reversed(obj.shape))

    def text(obj) -> str:
        a = np.asarray(obj[()]).T.ravel(order="F")
        return "".join(chr(int(c)) for c in a)

    def value(k: str):
        obj, cls = f[k], classes[k]
        if cls == "sparse":
            g = obj
            vals = np.asarray(g["data"][()]) if "data" in g else np.ones(len(g["ir"]))
            return sp.csc_matrix((vals, np.asarray(g["ir"][()]), np.asarray(g["jc"][()])),
                                 shape=shapes[k])
        if cls == "char":
            return np.array([text(obj)])
        if cls == "cell":
            refs = np.asarray(obj[()]).T
            out = np.empty(refs.shape, dtype=object)
            for idx in np.ndindex(refs.shape):
                item = f[refs[idx]]
                out[idx] = (np.array([text(item)]) if _h5_class(item) == "char"
                            else np.asarray(item[()]).T)
            return out
        if isinstance(obj, h5py.Group):  # struct, function handle, object: not a matrix
            return np.array([], dtype=object)
        a = np.asarray(obj[()])
        if a.dtype.names:  # complex numbers are stored as a compound (real, imag)
            a = a["real"] + 1j * a["imag"] if {"real", "imag"} <= set(a.dtype.names) else a
        return a.T

    def load(names):
        try:
            return {k: value(k) for k in (names if names is not None else shapes)}
        except Exception as exc:
            raise DataError(f"{fname} is a corrupt or malformed MATLAB v7.3 file "
                            f"({type(exc).__name__}).") from None

    return shapes, classes, load
