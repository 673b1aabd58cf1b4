"""Record every AWS API call a Python process makes (scripts/operator-policy record).

On PYTHONPATH, Python imports this at start-up in every process: ansible-playbook, the inventory
plugin and lookups, and each module Ansible runs on the controller. Each boto3/botocore call
appends "<service>:<Operation> <program>" to the file named by IDEATION_AWS_CALLS_LOG.
"""

import os
import sys

_LOG = os.environ.get("IDEATION_AWS_CALLS_LOG")

if _LOG:
    try:
        import botocore.client
    except ImportError:
        pass
    else:
        _make_api_call = botocore.client.BaseClient._make_api_call

        def _recorded(self, operation_name, api_params):
            with open(_LOG, "a", encoding="utf-8") as log:
                service = self.meta.service_model.service_name
                log.write(f"{service}:{operation_name} {os.path.basename(sys.argv[0])}\n")
            return _make_api_call(self, operation_name, api_params)

        botocore.client.BaseClient._make_api_call = _recorded
