"""VPC: isolated subnets only, endpoints, and who may reach RDS."""

from __future__ import annotations

from clickpipe_infra.network import INTERFACE_ENDPOINTS, PG_PORT


def _subnets(default, kind: str) -> list[str]:
    return sorted(
        lid for lid, sn in default.resources("AWS::EC2::Subnet").items()
        if {t["Key"]: t["Value"] for t in sn["Properties"]["Tags"]}["aws-cdk:subnet-type"] == kind
    )  # fmt: skip


def _routes_of(default, subnet: str) -> list[dict]:
    table = next(a["Properties"]["RouteTableId"]["Ref"] for a in default.resources("AWS::EC2::SubnetRouteTableAssociation").values()
                 if a["Properties"]["SubnetId"]["Ref"] == subnet)  # fmt: skip
    return [r["Properties"] for r in default.resources("AWS::EC2::Route").values() if r["Properties"]["RouteTableId"]["Ref"] == table]


def test_the_data_subnets_have_no_internet_path_and_dagster_only_a_nat(default):
    """RDS, Glue Job 2 and QuickSight's interfaces: isolated. Dagster's subnets: out through one NAT
    gateway (QuickSight's API has no VPC endpoint), never in. The public subnets hold the NAT only."""
    assert len(default.resources("AWS::EC2::NatGateway")) == 1
    for subnet in _subnets(default, "Isolated"):
        assert _routes_of(default, subnet) == [], subnet
    for subnet in _subnets(default, "Private"):
        routes = _routes_of(default, subnet)
        assert len(routes) == 1 and "NatGatewayId" in routes[0] and routes[0]["DestinationCidrBlock"] == "0.0.0.0/0", subnet
    for lid, sn in default.resources("AWS::EC2::Subnet").items():
        assert sn["Properties"]["MapPublicIpOnLaunch"] is False, lid
    for kind in ("AWS::ECS::Service",):
        for lid, svc in default.resources(kind).items():
            net = svc["Properties"]["NetworkConfiguration"]["AwsvpcConfiguration"]
            assert net["AssignPublicIp"] == "DISABLED" and sorted(x["Ref"] for x in net["Subnets"]) == _subnets(default, "Private"), lid
    assert not default.resources("AWS::ElasticLoadBalancingV2::LoadBalancer")


def test_subnets_are_in_two_azs(default):
    for kind in ("Isolated", "Private", "Public"):
        assert len(_subnets(default, kind)) == 2, kind


def test_rds_glue_and_quicksight_live_in_the_isolated_subnets(default):
    subnet_refs = [{"Ref": lid} for lid in _subnets(default, "Isolated")]
    _, group = default.one("AWS::RDS::DBSubnetGroup")
    assert sorted(map(str, group["Properties"]["SubnetIds"])) == sorted(map(str, subnet_refs))
    _, conn = default.one("AWS::Glue::Connection")
    assert conn["Properties"]["ConnectionInput"]["PhysicalConnectionRequirements"]["SubnetId"] in subnet_refs
    _, qs = default.one("AWS::QuickSight::VPCConnection")
    assert sorted(map(str, qs["Properties"]["SubnetIds"])) == sorted(map(str, subnet_refs))
    _, db = default.one("AWS::RDS::DBInstance")
    assert db["Properties"]["PubliclyAccessible"] is False


def test_vpc_endpoints(default):
    endpoints = list(default.resources("AWS::EC2::VPCEndpoint").values())
    gateway = [e for e in endpoints if e["Properties"].get("VpcEndpointType") == "Gateway"]
    assert len(gateway) == 1 and "s3" in str(gateway[0]["Properties"]["ServiceName"])
    interface = [e for e in endpoints if e["Properties"].get("VpcEndpointType") == "Interface"]
    names = " ".join(str(e["Properties"]["ServiceName"]) for e in interface)
    for service in ("secretsmanager", "glue", "kms", "logs", "monitoring", "sts"):
        assert f".{service}" in names, service
    assert len(interface) == len(INTERFACE_ENDPOINTS)
    for e in interface:
        assert e["Properties"]["PrivateDnsEnabled"] is True


def _ingress(default):
    """All ingress rules: inline ones and AWS::EC2::SecurityGroupIngress resources, as (group, rule)."""
    rules = []
    for lid, sg in default.resources("AWS::EC2::SecurityGroup").items():
        for r in sg["Properties"].get("SecurityGroupIngress", []):
            rules.append((lid, r))
    for r in default.resources("AWS::EC2::SecurityGroupIngress").values():
        rules.append((r["Properties"]["GroupId"]["Fn::GetAtt"][0], r["Properties"]))
    return rules


def test_no_ingress_from_anywhere(default):
    for group, rule in _ingress(default):
        assert rule.get("CidrIp") not in ("0.0.0.0/0",) and rule.get("CidrIpv6") != "::/0", (group, rule)


def test_rds_is_reachable_only_from_glue_dagster_and_quicksight(default):
    net = default.stack.network
    rds, glue, qs, dagster = (default.logical_id(sg) for sg in (net.rds_sg, net.glue_sg, net.quicksight_sg, net.dagster_sg))
    rds_rules = [r for g, r in _ingress(default) if g == rds]
    sources = sorted(r["SourceSecurityGroupId"]["Fn::GetAtt"][0] for r in rds_rules)
    assert sources == sorted([glue, qs, dagster])
    for r in rds_rules:
        assert (r["FromPort"], r["ToPort"], r["IpProtocol"]) == (PG_PORT, PG_PORT, "tcp")
    _, db = default.one("AWS::RDS::DBInstance")
    assert db["Properties"]["VPCSecurityGroups"] == [{"Fn::GetAtt": [rds, "GroupId"]}]


def test_dagster_accepts_no_inbound_connection(default):
    dagster = default.logical_id(default.stack.network.dagster_sg)
    assert not [r for g, r in _ingress(default) if g == dagster]


def test_glue_security_group_references_itself(default):
    glue = default.logical_id(default.stack.network.glue_sg)
    self_rules = [r for g, r in _ingress(default) if g == glue and r.get("SourceSecurityGroupId", {}).get("Fn::GetAtt", [None])[0] == glue]
    assert len(self_rules) == 1
    assert (self_rules[0]["FromPort"], self_rules[0]["ToPort"]) == (0, 65535)
    _, conn = default.one("AWS::Glue::Connection")
    assert conn["Properties"]["ConnectionInput"]["PhysicalConnectionRequirements"]["SecurityGroupIdList"] == [{"Fn::GetAtt": [glue, "GroupId"]}]


def test_vpc_flow_logs_are_on(default):
    _, flow = default.one("AWS::EC2::FlowLog")
    assert flow["Properties"]["TrafficType"] == "ALL"
    assert flow["Properties"]["LogDestinationType"] == "s3"
