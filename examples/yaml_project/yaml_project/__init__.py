"""A minimal dg project whose Buckaroo bundles are declared in defs/bundles/defs.yaml."""
