"""What runs the appliance: the wiring (``wiring.run``), the capture loop, smoothing,
buttons, sd_notify.
"""
