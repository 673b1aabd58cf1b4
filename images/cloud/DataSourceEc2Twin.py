"""cloud-init's Ec2 datasource for the dev twin's machines: `datasource_list: [Ec2Twin, None]`.

cloud-init 22.4 asks EC2's metadata service for an IMDSv2 token only when it identifies the
platform as AWS, from DMI or /sys/hypervisor/uuid, which it never reads in a container; it then
falls back to IMDSv1, which `HttpTokens: required` refuses. On the twin the platform is EC2 by
construction (scripts/twin/imds.py answers on 169.254.169.254), so this says so. Installed on
sys.path (/usr/lib/python3/dist-packages); its settings stay under `datasource: Ec2:`.
"""

from cloudinit import sources
from cloudinit.sources import DataSourceEc2


class DataSourceEc2Twin(DataSourceEc2.DataSourceEc2):
    """DataSourceEc2 on a machine that EC2 runs but no DMI names (a container)."""

    def _get_cloud_name(self):
        return DataSourceEc2.CloudNames.AWS


# Network stage only: EC2's init-local variant would first try DHCP on the machine's interface.
datasources = [(DataSourceEc2Twin, (sources.DEP_FILESYSTEM, sources.DEP_NETWORK))]


def get_datasource_list(depends):
    return sources.list_from_depends(depends, datasources)
