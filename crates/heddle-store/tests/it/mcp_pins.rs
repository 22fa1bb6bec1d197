//! MCP tool pins: approved per tenant, environment, server and tool; re-approval replaces;
//! revoking deletes; each change writes one audit outbox event and a failure none.

use heddle_store::{McpToolPin, Store, StoreError};
use heddle_types::{Environment, TenantId};
use serde_json::json;

use crate::fixtures::{at, event, tenant};
use crate::harness::TestDb;

conformance_tests!(
    pins_are_approved_replaced_listed_and_revoked,
    pins_are_kept_per_tenant_environment_and_server,
    a_pin_for_a_missing_tenant_is_not_found_and_writes_no_event,
);

fn pin(tenant_id: TenantId, server: &str, tool: &str, fingerprint: char) -> McpToolPin {
    McpToolPin {
        tenant_id,
        environment: Environment::Prod,
        server: server.to_owned(),
        tool: tool.to_owned(),
        fingerprint: fingerprint.to_string().repeat(64),
        definition: json!({"name": tool, "inputSchema": {"type": "object"}}),
        approved_by: "user:0192".to_owned(),
        approved_at: at(5),
    }
}

async fn outbox(store: &dyn Store) -> u64 {
    store.audit_outbox_len().await.unwrap()
}

async fn pins_are_approved_replaced_listed_and_revoked(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    let start = outbox(store).await;
    let search = pin(acme.id, "wiki", "search", 'a');
    store
        .put_mcp_pin(search.clone(), event(acme.id, "mcp.tool.approved"))
        .await
        .unwrap();
    store
        .put_mcp_pin(
            pin(acme.id, "wiki", "fetch", 'b'),
            event(acme.id, "mcp.tool.approved"),
        )
        .await
        .unwrap();
    let listed = store
        .list_mcp_pins(acme.id, Environment::Prod, "wiki")
        .await
        .unwrap();
    assert_eq!(listed, vec![pin(acme.id, "wiki", "fetch", 'b'), search]);
    // Re-approval of a changed definition replaces the pin.
    let mut changed = pin(acme.id, "wiki", "search", 'c');
    changed.definition = json!({"name": "search", "description": "new", "inputSchema": {}});
    changed.approved_at = at(9);
    store
        .put_mcp_pin(changed.clone(), event(acme.id, "mcp.tool.approved"))
        .await
        .unwrap();
    let listed = store
        .list_mcp_pins(acme.id, Environment::Prod, "wiki")
        .await
        .unwrap();
    assert_eq!(listed[1], changed);
    assert_eq!(outbox(store).await, start + 3);
    assert!(
        store
            .delete_mcp_pin(
                acme.id,
                Environment::Prod,
                "wiki",
                "search",
                event(acme.id, "mcp.tool.revoked")
            )
            .await
            .unwrap()
    );
    assert!(
        !store
            .delete_mcp_pin(
                acme.id,
                Environment::Prod,
                "wiki",
                "search",
                event(acme.id, "mcp.tool.revoked")
            )
            .await
            .unwrap()
    );
    assert_eq!(outbox(store).await, start + 4);
    let listed = store
        .list_mcp_pins(acme.id, Environment::Prod, "wiki")
        .await
        .unwrap();
    assert_eq!(listed, vec![pin(acme.id, "wiki", "fetch", 'b')]);
}

async fn pins_are_kept_per_tenant_environment_and_server(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    let globex = tenant(store, "globex").await;
    store
        .put_mcp_pin(
            pin(acme.id, "wiki", "search", 'a'),
            event(acme.id, "mcp.tool.approved"),
        )
        .await
        .unwrap();
    let mut staging = pin(acme.id, "wiki", "search", 'd');
    staging.environment = Environment::Staging;
    store
        .put_mcp_pin(staging.clone(), event(acme.id, "mcp.tool.approved"))
        .await
        .unwrap();
    for (tenant_id, environment, server, expected) in [
        (
            acme.id,
            Environment::Prod,
            "wiki",
            vec![pin(acme.id, "wiki", "search", 'a')],
        ),
        (acme.id, Environment::Staging, "wiki", vec![staging.clone()]),
        (acme.id, Environment::Dev, "wiki", vec![]),
        (acme.id, Environment::Prod, "tickets", vec![]),
        (globex.id, Environment::Prod, "wiki", vec![]),
    ] {
        let listed = store
            .list_mcp_pins(tenant_id, environment, server)
            .await
            .unwrap();
        assert_eq!(listed, expected, "{environment:?} {server}");
    }
    // Another tenant cannot revoke acme's pin.
    assert!(
        !store
            .delete_mcp_pin(
                globex.id,
                Environment::Prod,
                "wiki",
                "search",
                event(globex.id, "mcp.tool.revoked")
            )
            .await
            .unwrap()
    );
}

async fn a_pin_for_a_missing_tenant_is_not_found_and_writes_no_event(db: TestDb) {
    let store = &*db.store;
    let start = outbox(store).await;
    let ghost = TenantId::new();
    let err = store
        .put_mcp_pin(pin(ghost, "wiki", "search", 'a'), event(ghost, "x"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::NotFound {
                entity: "tenant",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(outbox(store).await, start);
}
