use super::super::{ConfigError, ErrorLocation, GatewayService, load, validate::validate};
use super::*;

const LAB: &str = include_str!("../../../../configs/lab.yaml");

fn lab() -> Config {
    load::parse_str(LAB, "lab.yaml").expect("lab parses")
}

fn errors_with(errors: &[ConfigError], id: &str, fragment: &str) -> usize {
    errors
        .iter()
        .filter(|e| {
            matches!(&e.location, ErrorLocation::Object { id: i, .. } if i == id)
                && e.message.contains(fragment)
        })
        .count()
}

#[test]
fn the_lab_resolves_with_indices_in_config_order() {
    let cfg = lab();
    let r = resolve(&cfg).expect("lab resolves");
    for (i, e) in r.enis.iter_enumerated() {
        assert_eq!(
            e.cfg.network_interface_id,
            cfg.network_interfaces[i.index()].network_interface_id
        );
    }
    let app = r
        .enis
        .position(|e| e.cfg.network_interface_id == "eni-app")
        .unwrap();
    let private = r
        .subnets
        .position(|s| s.cfg.subnet_id == "subnet-private")
        .unwrap();
    assert_eq!(r.enis[app].subnet, private);
    let rtb = &r.route_tables[r.subnets[private].route_table];
    assert_eq!(rtb.cfg.route_table_id, "rtb-private");
    assert_eq!(rtb.endpoints, vec![EndpointIdx(0), EndpointIdx(1)]);
    assert_eq!(r.ports[PortIdx(1)].kind, PortKind::Eni(app));
    assert_eq!(r.ports[PortIdx(2)].kind, PortKind::Internet);
    assert_eq!(r.ports[PortIdx(5)].kind, PortKind::Service(EndpointIdx(2)));
    let ddb = r
        .prefix_lists
        .position(|p| p.prefix_list_id == "pl-lab-ddb")
        .unwrap();
    assert_eq!(
        r.endpoints[EndpointIdx(1)].kind,
        EndpointKind::Gateway {
            service: GatewayService::DynamoDb,
            prefix_list: ddb,
            prefix_list_v6: None,
        }
    );
    assert_eq!(r.endpoints[EndpointIdx(2)].kind, EndpointKind::Interface);
    // The endpoint's ENIs belong to it; the ENI of the blackhole route's deleted NAT is gone.
    let api_b = r
        .enis
        .position(|e| e.cfg.network_interface_id == "eni-lab-api-b")
        .unwrap();
    assert_eq!(r.enis[api_b].endpoint, Some(EndpointIdx(2)));
    assert!(
        r.route_tables
            .iter()
            .flat_map(|t| &t.routes)
            .any(|x| x.target == Target::Blackhole && x.target_id == Some("nat-deleted"))
    );
    assert!(r.igw.is_some_and(|g| g.internet_gateway_id == "igw-lab"));
}

#[test]
fn a_dangling_reference_is_reported_once() {
    let mut cfg = lab();
    cfg.network_interfaces[0].groups[0].group_id = "sg-nope".into();
    cfg.network_interfaces[1].subnet_id = "subnet-nope".into();
    cfg.route_tables[1].routes[0].gateway_id = Some("igw-nope".into());
    let errors = validate(&cfg);
    assert_eq!(
        errors_with(&errors, "eni-web", "unknown security group sg-nope"),
        1
    );
    assert_eq!(
        errors_with(&errors, "eni-app", "unknown subnet subnet-nope"),
        1
    );
    assert_eq!(
        errors_with(&errors, "rtb-public", "unknown target igw-nope"),
        1
    );
    assert!(resolve(&cfg).is_err());
}

#[test]
fn a_vpc_without_a_default_group_gets_one() {
    let cfg = lab();
    let r = resolve(&cfg).unwrap();
    assert_eq!(r.default_sg.index(), cfg.security_groups.len());
    assert_eq!(r.sgs[r.default_sg].id, "sg-default-lab");
    assert!(r.sgs[r.default_sg].is_default && r.sgs[r.default_sg].rules.is_none());
}

#[test]
fn a_detached_gateway_is_no_gateway() {
    let mut cfg = lab();
    cfg.internet_gateways[0].attachments[0].state = Some(super::super::AttachmentState::Detached);
    let r = resolve(&cfg).unwrap();
    assert!(r.igw.is_none());
    let public = &r.route_tables[RtbIdx(1)];
    assert_eq!(public.routes[0].target, Target::Blackhole);
    assert_eq!(public.routes[0].target_id, Some("igw-lab"));
}

#[test]
fn no_vpc_is_one_error() {
    let cfg = Config::default();
    let e = resolve(&cfg).unwrap_err();
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].to_string(), "Vpcs: Vpcs: the config declares no VPC");
}
