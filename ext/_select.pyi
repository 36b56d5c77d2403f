import numpy as np
from numpy.typing import NDArray

def upward_square(gt: NDArray[np.float64], y2: NDArray[np.float64], fixed: NDArray[np.intp], cand: NDArray[np.intp],
                  cut: float, out: NDArray[np.float64]) -> bool: ...
def downward(gt: NDArray[np.float64], y2: NDArray[np.float64], rows: NDArray[np.intp], nfixed: int, cut: float,
             out: NDArray[np.float64]) -> bool: ...
