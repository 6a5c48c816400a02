"""The clickpipe AWS side as a CDK app: one stack built from small constructs (one module each)."""
