"""What several functions use: layers, database, state table, dispatch queue, alarms, the function construct and
the managed secrets; ``infra_cdk.stack`` composes them with the constructs of ``infra_cdk.functions``."""
