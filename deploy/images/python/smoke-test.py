"""Run inside the freshly built rootfs before it becomes an image: the ML stack must import and
round-trip a model through ONNX, or the build fails (a broken pin must not become an image)."""
import json

import numpy as np
import onnxruntime as ort
import pandas as pd
from skl2onnx import to_onnx
from sklearn.linear_model import LogisticRegression

X = np.array([[0.0, 1.0], [1.0, 0.0], [0.2, 0.9], [0.9, 0.1]], dtype=np.float32)
y = np.array([0, 1, 0, 1])
model = LogisticRegression().fit(X, y)
onx = to_onnx(model, X[:1])
sess = ort.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])
labels = sess.run(None, {sess.get_inputs()[0].name: X})[0]
assert list(labels) == list(model.predict(X)), (labels, model.predict(X))
frame = pd.DataFrame(X, columns=["a", "b"])
print(json.dumps({"ok": True, "rows": len(frame), "onnxruntime": ort.__version__}))
