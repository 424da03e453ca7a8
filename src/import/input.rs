//! Reading `aws ec2 describe-*` JSON: files or directories of `*.json`, each recognised by its
//! top-level keys (never by its name), merged into one [`Inputs`]. Malformed JSON is an error
//! with `file:line:column`.

use super::Report;
use serde_json::Value;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// Everything read, as JSON objects, in input order; an object seen twice (same id) kept once.
#[derive(Default)]
pub(super) struct Inputs {
    pub vpcs: Vec<Value>,
    pub subnets: Vec<Value>,
    pub route_tables: Vec<Value>,
    /// `describe-managed-prefix-lists` items (they carry `AddressFamily` / `OwnerId`).
    pub managed_prefix_lists: Vec<Value>,
    /// `describe-prefix-lists` items (`PrefixListId`, `PrefixListName`, `Cidrs`).
    pub prefix_lists: Vec<Value>,
    /// `get-managed-prefix-list-entries`: (list id from the file name, entries).
    pub prefix_list_entries: Vec<(String, Vec<Value>)>,
    pub security_groups: Vec<Value>,
    pub security_group_rules: Vec<Value>,
    pub network_acls: Vec<Value>,
    pub network_interfaces: Vec<Value>,
    pub vpc_endpoints: Vec<Value>,
    pub nat_gateways: Vec<Value>,
    pub internet_gateways: Vec<Value>,
    pub egress_only_internet_gateways: Vec<Value>,
    /// Instances from `describe-instances` (`Reservations[].Instances[]`).
    pub instances: Vec<Value>,
    seen: HashSet<(&'static str, String)>,
}

/// The files PATH names: itself, or the `*.json` directly inside a directory, sorted.
fn files(path: &Path) -> Result<Vec<PathBuf>, String> {
    if path.is_dir() {
        let mut v: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| format!("{}: cannot read directory: {e}", path.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "json"))
            .collect();
        v.sort();
        Ok(v)
    } else {
        Ok(vec![path.to_path_buf()])
    }
}

/// The prefix-list id a file name holds (`…pl-0123abcd….json`).
fn pl_id_of(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_string_lossy().into_owned();
    let i = name.find("pl-")?;
    let id: String = name[i..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    (id.len() > 3).then_some(id)
}

/// Reads every path; `Err` holds one message per malformed or unreadable file.
pub(super) fn read(paths: &[PathBuf], report: &mut Report) -> Result<Inputs, Vec<String>> {
    let mut inp = Inputs::default();
    let mut errors = Vec::new();
    for p in paths {
        let list = match files(p) {
            Ok(l) => l,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        for f in list {
            let name = f.display().to_string();
            let text = match std::fs::read_to_string(&f) {
                Ok(t) => t,
                Err(e) => {
                    errors.push(format!("{name}: cannot read: {e}"));
                    continue;
                }
            };
            match serde_json::from_str::<Value>(&text) {
                Ok(v) => inp.add(&f, &name, v, report),
                Err(e) => errors.push(format!(
                    "{name}:{}:{}: malformed JSON: {e}",
                    e.line(),
                    e.column()
                )),
            }
        }
    }
    if errors.is_empty() {
        Ok(inp)
    } else {
        Err(errors)
    }
}

fn items(v: &Value) -> Vec<Value> {
    v.as_array().cloned().unwrap_or_default()
}

impl Inputs {
    fn push(
        seen: &mut HashSet<(&'static str, String)>,
        list: &mut Vec<Value>,
        kind: &'static str,
        id_field: &str,
        new: Vec<Value>,
    ) {
        for o in new {
            let id = o.get(id_field).and_then(Value::as_str).unwrap_or("");
            if id.is_empty() || seen.insert((kind, id.to_string())) {
                list.push(o);
            }
        }
    }

    fn add(&mut self, path: &Path, name: &str, v: Value, report: &mut Report) {
        let Some(obj) = v.as_object() else {
            report.note(
                name,
                "-",
                "not a JSON object as describe-* prints it: skipped",
            );
            return;
        };
        let s = &mut self.seen;
        for (k, val) in obj {
            let new = items(val);
            match k.as_str() {
                "Vpcs" => Self::push(s, &mut self.vpcs, "vpc", "VpcId", new),
                "Subnets" => Self::push(s, &mut self.subnets, "subnet", "SubnetId", new),
                "RouteTables" => Self::push(s, &mut self.route_tables, "rtb", "RouteTableId", new),
                "PrefixLists" => {
                    // describe-managed-prefix-lists and describe-prefix-lists share the key.
                    let (managed, old): (Vec<Value>, Vec<Value>) = new
                        .into_iter()
                        .partition(|p| p.get("AddressFamily").is_some() || p.get("OwnerId").is_some());
                    Self::push(s, &mut self.managed_prefix_lists, "mpl", "PrefixListId", managed);
                    Self::push(s, &mut self.prefix_lists, "pl", "PrefixListId", old);
                }
                "Entries" => match pl_id_of(path) {
                    Some(id) => {
                        if s.insert(("entries", id.clone())) {
                            self.prefix_list_entries.push((id, new));
                        }
                    }
                    None => report.note(
                        name,
                        "Entries",
                        "get-managed-prefix-list-entries output whose file name holds no pl-… id: skipped",
                    ),
                },
                "SecurityGroups" => Self::push(s, &mut self.security_groups, "sg", "GroupId", new),
                "SecurityGroupRules" => {
                    Self::push(s, &mut self.security_group_rules, "sgr", "SecurityGroupRuleId", new)
                }
                "NetworkAcls" => Self::push(s, &mut self.network_acls, "acl", "NetworkAclId", new),
                "NetworkInterfaces" => {
                    Self::push(s, &mut self.network_interfaces, "eni", "NetworkInterfaceId", new)
                }
                "VpcEndpoints" => Self::push(s, &mut self.vpc_endpoints, "vpce", "VpcEndpointId", new),
                "NatGateways" => Self::push(s, &mut self.nat_gateways, "nat", "NatGatewayId", new),
                "InternetGateways" => {
                    Self::push(s, &mut self.internet_gateways, "igw", "InternetGatewayId", new)
                }
                "EgressOnlyInternetGateways" => Self::push(
                    s,
                    &mut self.egress_only_internet_gateways,
                    "eigw",
                    "EgressOnlyInternetGatewayId",
                    new,
                ),
                "Reservations" => {
                    let inst: Vec<Value> = new
                        .iter()
                        .flat_map(|r| items(r.get("Instances").unwrap_or(&Value::Null)))
                        .collect();
                    Self::push(s, &mut self.instances, "i", "InstanceId", inst);
                }
                "NextToken" | "ResponseMetadata" => {}
                other => report.note(
                    name,
                    other,
                    "not a describe-* output vpcfwd reads: skipped",
                ),
            }
        }
    }
}
