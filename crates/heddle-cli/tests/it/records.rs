//! `heddle records apply` and `heddle records import`: problems named by file, line, path and
//! row; imports all or nothing.

use crate::harness::{Server, run, stderr, stdout, temp_dir};

const ORG: &str = r#"
roles:
  - id: sales_rep
profiles:
  - id: rep
    objects:
      Account: { read: true, create: true, edit: true }
    fields:
      Account:
        Name: { read: true, edit: true }
        Industry: { read: true, edit: true }
users:
  - { id: 005000000000001, login: ana@acme.test, role: sales_rep, profile: rep }
"#;

#[test]
fn apply_names_the_line_of_a_yaml_typo_and_every_broken_reference() {
    let (_guard, dir) = temp_dir();
    drop(Server::start(&dir, &[], &[]));

    std::fs::write(
        dir.join("typo.yaml"),
        ORG.replace("profile: rep", "profle: rep"),
    )
    .unwrap();
    let output = run(&dir, &["records", "apply", "-f", "typo.yaml"], None);
    assert!(!output.status.success());
    let text = stderr(&output);
    // File, line and column, then the path of the field.
    assert!(text.contains("typo.yaml:13:"), "{text}");
    assert!(text.contains("users[0].profle"), "{text}");

    let broken = ORG
        .replace("role: sales_rep", "role: sales_rpe")
        .replace("Industry: {", "Industri: {");
    std::fs::write(dir.join("broken.yaml"), broken).unwrap();
    let output = run(&dir, &["records", "apply", "-f", "broken.yaml"], None);
    assert!(!output.status.success());
    let text = stderr(&output);
    assert!(text.contains("2 problem(s)"), "{text}");
    assert!(text.contains("users[0].role"), "{text}");
    assert!(text.contains("Industri"), "{text}");

    std::fs::write(dir.join("org.yaml"), ORG).unwrap();
    let output = run(&dir, &["records", "apply", "-f", "org.yaml"], None);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("version 1"), "{}", stdout(&output));
    let output = run(&dir, &["records", "apply", "-f", "org.yaml"], None);
    assert!(stdout(&output).contains("version 2"), "{}", stdout(&output));
}

#[test]
fn import_is_all_or_nothing_and_names_the_bad_row_without_quoting_it() {
    let (_guard, dir) = temp_dir();
    drop(Server::start(&dir, &[], &[]));
    std::fs::write(dir.join("org.yaml"), ORG).unwrap();
    assert!(
        run(&dir, &["records", "apply", "-f", "org.yaml"], None)
            .status
            .success()
    );

    std::fs::write(
        dir.join("accounts.csv"),
        "Id,OwnerId,Name,Industry\n\
         001000000000001,005000000000001,Alpine,Retail\n\
         001000000000002,005000000000001,Borealis,Confidential-Sector-42\n",
    )
    .unwrap();
    let output = run(
        &dir,
        &["records", "import", "--object", "Account", "accounts.csv"],
        None,
    );
    assert!(!output.status.success());
    let text = stderr(&output);
    assert!(text.contains("row 2"), "{text}");
    assert!(text.contains("Industry"), "{text}");
    assert!(!text.contains("Confidential-Sector-42"), "{text}");

    std::fs::write(
        dir.join("accounts.csv"),
        "Id,OwnerId,Name,Industry\n\
         001000000000001,005000000000001,Alpine,Retail\n\
         001000000000002,005000000000001,Borealis,Finance\n",
    )
    .unwrap();
    let output = run(
        &dir,
        &["records", "import", "--object", "Account", "accounts.csv"],
        None,
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("imported 2"),
        "{}",
        stdout(&output)
    );
    // The same ids again: refused as a whole, nothing duplicated.
    let output = run(
        &dir,
        &["records", "import", "--object", "Account", "accounts.csv"],
        None,
    );
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("already exists"),
        "{}",
        stderr(&output)
    );

    let output = run(
        &dir,
        &["records", "import", "--object", "Account", "accounts.txt"],
        None,
    );
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains(".csv, .json"),
        "{}",
        stderr(&output)
    );
}

/// The password `serve --demo` printed for a demo person.
fn demo_password(server: &Server, email: &str) -> String {
    server
        .banner
        .iter()
        .find(|line| line.trim_start().starts_with(&format!("{email} ")))
        .and_then(|line| line.split_whitespace().last())
        .unwrap_or_else(|| panic!("no password for {email} in {:?}", server.banner))
        .to_owned()
}

async fn count(server: &Server, token: &str, object: &str) -> usize {
    let client = reqwest::Client::new();
    let mut cursor: Option<String> = None;
    let mut total = 0;
    loop {
        let mut body = serde_json::json!({"limit": 200, "fields": []});
        if let Some(cursor) = &cursor {
            body["cursor"] = serde_json::json!(cursor);
        }
        let page: serde_json::Value = client
            .post(server.url(&format!("/v1/records/{object}/query")))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        total += page["records"]
            .as_array()
            .unwrap_or_else(|| panic!("{page}"))
            .len();
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return total,
        }
    }
}

#[tokio::test]
async fn serve_demo_loads_the_demo_org_once_and_people_see_what_its_readme_says() {
    let (_guard, dir) = temp_dir();
    let server = Server::start(&dir, &["--demo"], &[]);
    let ana = crate::harness::login(
        &server.base,
        "default",
        "rep.ana@northwind.example",
        &demo_password(&server, "rep.ana@northwind.example"),
    )
    .await;
    let ivy = crate::harness::login(
        &server.base,
        "default",
        "customer.ivy@customers.example",
        &demo_password(&server, "customer.ivy@customers.example"),
    )
    .await;
    // The numbers are the table in examples/demo-org/README.md.
    assert_eq!(count(&server, &ana, "Account").await, 56);
    assert_eq!(count(&server, &ana, "Contact").await, 170);
    assert_eq!(count(&server, &ivy, "Case").await, 6);
    // Customers have no Account access: for them the object does not exist.
    let accounts = reqwest::Client::new()
        .get(server.url("/v1/records/Account"))
        .bearer_auth(&ivy)
        .send()
        .await
        .unwrap();
    assert_eq!(accounts.status().as_u16(), 404);
    drop(server);

    // A restart loads nothing twice and shows no password again.
    let server = Server::start(&dir, &["--demo"], &[]);
    assert!(
        !server
            .banner
            .iter()
            .any(|l| l.contains("rep.ana@northwind.example")),
        "{:?}",
        server.banner
    );
    assert_eq!(count(&server, &ana, "Account").await, 56);
}
