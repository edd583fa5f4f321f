"""One construct per feature of the service; ``infra_cdk.stack`` composes them."""
