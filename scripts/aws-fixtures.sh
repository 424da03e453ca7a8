#!/usr/bin/env bash
# Regenerates tests/fixtures/aws/: a VPC like configs/lab.yaml built through the real EC2 API
# (boto3) against moto_server, the AWS emulator, and every `aws ec2 describe-*` output of it, as
# the CLI prints it (the response minus ResponseMetadata, datetimes as ISO strings, 4-space JSON).
#
# moto[server] and boto3 come from PyPI into a venv under target/; moto_server binds 127.0.0.1 on
# a free port and is stopped by its PID on exit, failure and Ctrl-C. Nothing else is contacted.
# The addresses chosen here are documentation ranges and 10.0.0.0/16; moto adds its own (its
# public IPs, the AWS service prefix lists), which `vpcfwd import` reports.
#
#   scripts/aws-fixtures.sh [OUT_DIR]      (default tests/fixtures/aws)
#
# The versions are pinned (the import tests expect the quirks of this moto: a newer one may fix
# some); MOTO_SPEC / BOTO3_SPEC override them, and OUT_DIR/VERSIONS records what was used.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-tests/fixtures/aws}
VENV=target/aws-fixtures-venv
MOTO_SPEC=${MOTO_SPEC:-moto[server]==5.2.5}
BOTO3_SPEC=${BOTO3_SPEC:-boto3==1.44.8}
[[ -x $VENV/bin/python ]] || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q "$MOTO_SPEC" "$BOTO3_SPEC"
PORT=$("$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
LOG=target/aws-fixtures-moto.log
MOTO_PID=
cleanup() {
  if [[ -n $MOTO_PID ]] && kill -0 "$MOTO_PID" 2>/dev/null; then
    kill -TERM "$MOTO_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$MOTO_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$MOTO_PID" 2>/dev/null || true
  fi
}
trap cleanup EXIT INT TERM
"$VENV/bin/moto_server" -H 127.0.0.1 -p "$PORT" >"$LOG" 2>&1 &
MOTO_PID=$!
for _ in $(seq 100); do
  "$VENV/bin/python" -c "import socket; socket.create_connection(('127.0.0.1',$PORT),0.2)" 2>/dev/null && break
  kill -0 "$MOTO_PID" 2>/dev/null || { echo "moto_server died; see $LOG" >&2; exit 1; }
  sleep 0.1
done
mkdir -p "$OUT"
rm -f "$OUT"/*.json
MOTO_URL="http://127.0.0.1:$PORT" OUT="$OUT" "$VENV/bin/python" - <<'PY'
import datetime, json, os
import boto3

out = os.environ["OUT"]
ec2 = boto3.client(
    "ec2", region_name="us-east-1", endpoint_url=os.environ["MOTO_URL"],
    aws_access_key_id="testing", aws_secret_access_key="testing",
)

def tag(name):
    return [{"Key": "Name", "Value": name}]

def spec(kind, name):
    return [{"ResourceType": kind, "Tags": tag(name)}]

vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16", TagSpecifications=spec("vpc", "lab"))["Vpc"]["VpcId"]
pub = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24", AvailabilityZone="us-east-1a",
                        TagSpecifications=spec("subnet", "public"))["Subnet"]["SubnetId"]
priv = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.2.0/24", AvailabilityZone="us-east-1b",
                         TagSpecifications=spec("subnet", "private"))["Subnet"]["SubnetId"]

igw = ec2.create_internet_gateway(TagSpecifications=spec("internet-gateway", "lab"))
igw = igw["InternetGateway"]["InternetGatewayId"]
ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
eip = ec2.allocate_address(Domain="vpc")["AllocationId"]
nat = ec2.create_nat_gateway(SubnetId=pub, AllocationId=eip,
                             TagSpecifications=spec("natgateway", "lab"))["NatGateway"]["NatGatewayId"]

# Customer-managed prefix lists: the admins (an SG peer) and partners (a route destination).
admins = ec2.create_managed_prefix_list(
    PrefixListName="lab-admins", AddressFamily="IPv4", MaxEntries=5,
    Entries=[{"Cidr": "10.0.1.0/24", "Description": "bastions in the public subnet"}],
)["PrefixList"]["PrefixListId"]
partners = ec2.create_managed_prefix_list(
    PrefixListName="lab-partners", AddressFamily="IPv4", MaxEntries=10,
    Entries=[{"Cidr": "203.0.113.0/24", "Description": "partner A"},
             {"Cidr": "192.0.2.192/26", "Description": "partner B"}],
)["PrefixList"]["PrefixListId"]

main_rtb = [r for r in ec2.describe_route_tables(
    Filters=[{"Name": "vpc-id", "Values": [vpc]}])["RouteTables"]][0]["RouteTableId"]
rtb_pub = ec2.create_route_table(VpcId=vpc, TagSpecifications=spec("route-table", "public"))
rtb_pub = rtb_pub["RouteTable"]["RouteTableId"]
rtb_priv = ec2.create_route_table(VpcId=vpc, TagSpecifications=spec("route-table", "private"))
rtb_priv = rtb_priv["RouteTable"]["RouteTableId"]
ec2.associate_route_table(RouteTableId=rtb_pub, SubnetId=pub)
ec2.associate_route_table(RouteTableId=rtb_priv, SubnetId=priv)
ec2.create_route(RouteTableId=rtb_pub, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
ec2.create_route(RouteTableId=rtb_priv, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=nat)
# The partners' list goes straight to the IGW (the private subnet has no public IPs: the trace
# shows the route, then NO_PUBLIC_IP); a longer CIDR inside it and an equal CIDR go to the NAT.
ec2.create_route(RouteTableId=rtb_priv, DestinationPrefixListId=partners, GatewayId=igw)
ec2.create_route(RouteTableId=rtb_priv, DestinationCidrBlock="203.0.113.0/24", NatGatewayId=nat)
ec2.create_route(RouteTableId=rtb_priv, DestinationCidrBlock="192.0.2.224/27", NatGatewayId=nat)

# Gateway endpoints on the private table; a CIDR route overlapping the S3 service list.
s3 = ec2.create_vpc_endpoint(VpcId=vpc, VpcEndpointType="Gateway",
                             ServiceName="com.amazonaws.us-east-1.s3",
                             RouteTableIds=[rtb_priv])["VpcEndpoint"]["VpcEndpointId"]
ddb = ec2.create_vpc_endpoint(VpcId=vpc, VpcEndpointType="Gateway",
                              ServiceName="com.amazonaws.us-east-1.dynamodb",
                              RouteTableIds=[rtb_priv])["VpcEndpoint"]["VpcEndpointId"]
s3pl = [p for p in ec2.describe_managed_prefix_lists()["PrefixLists"]
        if p["PrefixListName"] == "com.amazonaws.us-east-1.s3"]
if s3pl:
    entries = ec2.get_managed_prefix_list_entries(PrefixListId=s3pl[0]["PrefixListId"])["Entries"]
    if entries:
        first = entries[0]["Cidr"]
        net, plen = first.split("/")
        # One host route inside the first S3 range: longer than the list's entry, so it wins.
        ec2.create_route(RouteTableId=rtb_priv, DestinationCidrBlock=f"{net}/32", NatGatewayId=nat)

def sg(name, desc):
    return ec2.create_security_group(VpcId=vpc, GroupName=name, Description=desc)["GroupId"]

sg_web = sg("web", "web servers")
sg_app = sg("app", "application servers")
sg_api = sg("lab-api-endpoint", "interface endpoint")
ec2.authorize_security_group_ingress(GroupId=sg_web, IpPermissions=[
    {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
    {"IpProtocol": "icmp", "FromPort": -1, "ToPort": -1, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
])
ec2.authorize_security_group_ingress(GroupId=sg_app, IpPermissions=[
    {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "UserIdGroupPairs": [{"GroupId": sg_web}]},
    {"IpProtocol": "icmp", "FromPort": 8, "ToPort": -1, "PrefixListIds": [{"PrefixListId": admins}]},
])
ec2.authorize_security_group_ingress(GroupId=sg_api, IpPermissions=[
    {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "10.0.0.0/16"}]},
])

api = ec2.create_vpc_endpoint(VpcId=vpc, VpcEndpointType="Interface",
                              ServiceName="com.amazonaws.us-east-1.execute-api",
                              SubnetIds=[pub, priv], SecurityGroupIds=[sg_api])
api = api["VpcEndpoint"]["VpcEndpointId"]

acl = ec2.create_network_acl(VpcId=vpc, TagSpecifications=spec("network-acl", "private"))
acl = acl["NetworkAcl"]["NetworkAclId"]
ec2.create_network_acl_entry(NetworkAclId=acl, RuleNumber=90, Protocol="6", RuleAction="deny",
                             Egress=True, CidrBlock="0.0.0.0/0", PortRange={"From": 23, "To": 23})
ec2.create_network_acl_entry(NetworkAclId=acl, RuleNumber=100, Protocol="-1",
                             RuleAction="allow", Egress=True, CidrBlock="0.0.0.0/0")
ec2.create_network_acl_entry(NetworkAclId=acl, RuleNumber=100, Protocol="-1",
                             RuleAction="allow", Egress=False, CidrBlock="0.0.0.0/0")
for a in ec2.describe_network_acls(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["NetworkAcls"]:
    for assoc in a.get("Associations", []):
        if assoc["SubnetId"] == priv:
            ec2.replace_network_acl_association(AssociationId=assoc["NetworkAclAssociationId"],
                                                NetworkAclId=acl)

ami = ec2.describe_images()["Images"][0]["ImageId"]
ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, InstanceType="t3.micro",
                  TagSpecifications=spec("instance", "web"),
                  NetworkInterfaces=[{"DeviceIndex": 0, "SubnetId": pub,
                                      "PrivateIpAddress": "10.0.1.10", "Groups": [sg_web],
                                      "AssociatePublicIpAddress": True}])
ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, InstanceType="t3.micro",
                  TagSpecifications=spec("instance", "app"),
                  NetworkInterfaces=[{"DeviceIndex": 0, "SubnetId": priv,
                                      "PrivateIpAddress": "10.0.2.10", "Groups": [sg_app]}])

def iso(o):
    if isinstance(o, (datetime.datetime, datetime.date)):
        return o.isoformat()
    raise TypeError(type(o))

def dump(name, resp):
    resp = dict(resp)
    resp.pop("ResponseMetadata", None)
    resp.pop("NextToken", None)
    with open(os.path.join(out, name + ".json"), "w") as f:
        json.dump(resp, f, indent=4, default=iso)
        f.write("\n")

dump("describe-vpcs", ec2.describe_vpcs())
dump("describe-subnets", ec2.describe_subnets())
dump("describe-route-tables", ec2.describe_route_tables())
pls = ec2.describe_managed_prefix_lists()
dump("describe-managed-prefix-lists", pls)
for p in pls["PrefixLists"]:
    pid = p["PrefixListId"]
    dump(f"get-managed-prefix-list-entries-{pid}", ec2.get_managed_prefix_list_entries(PrefixListId=pid))
dump("describe-prefix-lists", ec2.describe_prefix_lists())
dump("describe-security-groups", ec2.describe_security_groups())
try:
    dump("describe-security-group-rules", ec2.describe_security_group_rules())
except Exception as e:  # older moto
    print(f"describe-security-group-rules: not supported by this moto ({e})")
dump("describe-network-acls", ec2.describe_network_acls())
dump("describe-network-interfaces", ec2.describe_network_interfaces())
dump("describe-vpc-endpoints", ec2.describe_vpc_endpoints())
dump("describe-nat-gateways", ec2.describe_nat_gateways())
dump("describe-internet-gateways", ec2.describe_internet_gateways())
dump("describe-egress-only-internet-gateways", ec2.describe_egress_only_internet_gateways())
dump("describe-instances", ec2.describe_instances())
print(f"{out}: VPC {vpc}, subnets {pub} {priv}, endpoints {s3} {ddb} {api}, NAT {nat}")
PY
"$VENV/bin/pip" list 2>/dev/null | awk '$1 ~ /^(moto|boto3|botocore)$/ {print $1, $2}' > "$OUT/VERSIONS"
ls "$OUT"
