"""The Kubernetes versions the operator's manifests and CRD are written for.

One constant, so the CRD's features (CEL rules are GA from 1.29), the API versions the
render emits and the tests that validate them against a schema all agree on one floor.
"""

from __future__ import annotations

#: The oldest Kubernetes release DOME supports; every rendered manifest must validate
#: against its API schemas.
OLDEST_SUPPORTED_KUBERNETES = "1.29.0"
