"""CoMix engines: plain Python capabilities, each fronted by a thin Dagster resource."""

import os

# onnxruntime (through RapidOCR, and PyMuPDF's layout models) sends usage events to Microsoft
# and keeps a device id under ~/.cache unless this is set before it first loads; nothing the
# platform runs may reach the network or write outside its home, so it is off unless a user
# says otherwise.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
