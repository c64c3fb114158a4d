//! Invite links for groups: made and revoked by admins, seen by anyone
//! holding one, accepted once per person, and a way in for a new number
//! under `REGISTRATION=invite`.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{TestApp, phone};

#[tokio::test]
async fn an_admin_makes_a_link_and_a_person_joins_the_group_by_it() {
    let app = TestApp::spawn().await;
    let (admin, member, guest) = (
        app.login(&phone(3200)).await,
        app.login(&phone(3201)).await,
        app.login(&phone(3202)).await,
    );
    let group = app.group(&admin, &[&member], "Arisan").await;
    let mut member_socket = app.joined_ws(&member).await;
    let (status, invite) = app
        .post(
            &format!("/api/chats/{group}/invites"),
            &admin.access,
            json!({ "maxUses": 2 }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{invite}");
    let code = invite["code"].as_str().unwrap().to_owned();
    assert_eq!(code.len(), 22, "128 bits in base64url");
    assert_eq!(invite["url"], format!("/invite/{code}"));
    assert_eq!(
        (invite["maxUses"].as_u64(), invite["uses"].as_u64()),
        (Some(2), Some(0))
    );
    // Anyone holding it sees the group, without signing in.
    let (status, preview) = app
        .call(Method::GET, &format!("/api/invites/{code}"), None, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(preview["chat"]["name"], "Arisan");
    assert_eq!(preview["chat"]["memberCount"], 2);
    assert_eq!(preview["expiresAt"], invite["expiresAt"]);
    // Accepting joins, and the members hear of it.
    let (status, joined) = app
        .post(
            &format!("/api/invites/{code}/accept"),
            &guest.access,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{joined}");
    assert_eq!(joined["id"], group.as_str());
    assert!(
        joined["participants"]
            .as_array()
            .unwrap()
            .contains(&Value::from(guest.id.as_str()))
    );
    let update = member_socket.wait_for("chat_updated").await;
    assert_eq!(update["participants"].as_array().unwrap().len(), 3);
    app.send_message(&guest, &group, "halo semua").await;
    // Accepting again is fine and uses nothing.
    let (status, _) = app
        .post(
            &format!("/api/invites/{code}/accept"),
            &guest.access,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, listed) = app
        .get(&format!("/api/chats/{group}/invites"), &admin.access)
        .await;
    assert_eq!(listed["invites"][0]["uses"], 1);
    // Members may not list, make or revoke links.
    assert_eq!(
        app.get(&format!("/api/chats/{group}/invites"), &member.access)
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.post(
            &format!("/api/chats/{group}/invites"),
            &member.access,
            json!({})
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn used_up_revoked_and_unknown_links_all_answer_not_found() {
    let app = TestApp::spawn().await;
    let admin = app.login(&phone(3210)).await;
    let people: Vec<_> =
        futures_util::future::join_all((3211..3214).map(|n| app.login_owned(phone(n)))).await;
    let group = app.group(&admin, &[&people[0]], "Satu kali").await;
    let (_, once) = app
        .post(
            &format!("/api/chats/{group}/invites"),
            &admin.access,
            json!({ "maxUses": 1 }),
        )
        .await;
    let once = once["code"].as_str().unwrap();
    assert_eq!(
        app.post(
            &format!("/api/invites/{once}/accept"),
            &people[1].access,
            json!({})
        )
        .await
        .0,
        StatusCode::OK
    );
    let (_, revoked) = app
        .post(
            &format!("/api/chats/{group}/invites"),
            &admin.access,
            json!({}),
        )
        .await;
    let revoked = revoked["code"].as_str().unwrap();
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/api/chats/{group}/invites/{revoked}"),
            Some(&admin.access),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    for code in [once, revoked, "AAAAAAAAAAAAAAAAAAAAAA"] {
        let (status, body) = app
            .call(Method::GET, &format!("/api/invites/{code}"), None, None)
            .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::NOT_FOUND, Some("not_found"))
        );
        let (status, _) = app
            .post(
                &format!("/api/invites/{code}/accept"),
                &people[2].access,
                json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{code}");
    }
    // Bad settings are refused and make no link.
    for bad in [
        json!({ "expiresIn": 0 }),
        json!({ "expiresIn": 30 * 24 * 3600 + 1 }),
        json!({ "maxUses": 0 }),
        json!({ "maxUses": 1001 }),
        json!({ "maxUses": "ten" }),
    ] {
        let (status, _) = app
            .post(
                &format!("/api/chats/{group}/invites"),
                &admin.access,
                bad.clone(),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    }
    let (_, listed) = app
        .get(&format!("/api/chats/{group}/invites"), &admin.access)
        .await;
    assert_eq!(listed["invites"].as_array().unwrap().len(), 1);
    // A private chat has no links.
    let private = app.private_chat(&admin, &people[0]).await;
    let (status, body) = app
        .post(
            &format!("/api/chats/{private}/invites"),
            &admin.access,
            json!({}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("not_a_group"))
    );
}

#[tokio::test]
async fn a_link_lets_a_new_number_sign_up_under_invite_registration_while_it_is_valid() {
    let app = TestApp::spawn_with(&[("--registration", "invite")]).await;
    for n in [3220, 3222] {
        app.admin(clavox::admin::Request::Invite { phone: phone(n) })
            .await;
    }
    let admin = app.login(&phone(3220)).await;
    let neighbour = app.login(&phone(3222)).await;
    let group = app.group(&admin, &[&neighbour], "Tetangga").await;
    let (_, invite) = app
        .post(
            &format!("/api/chats/{group}/invites"),
            &admin.access,
            json!({}),
        )
        .await;
    let code = invite["code"].as_str().unwrap();
    let newcomer = phone(3221);
    let send = |invite: Option<&str>| {
        let mut body = json!({ "phoneNumber": newcomer });
        if let Some(invite) = invite {
            body["invite"] = json!(invite);
        }
        app.call(Method::POST, "/api/auth/send-otp", None, Some(body))
    };
    // Without the link, or with a wrong one: the same answer, and no code.
    assert_eq!(send(None).await.0, StatusCode::OK);
    assert_eq!(send(Some("AAAAAAAAAAAAAAAAAAAAAA")).await.0, StatusCode::OK);
    assert_eq!(app.codes.count(&newcomer), 0);
    assert_eq!(send(Some(code)).await.0, StatusCode::OK);
    let otp = app
        .codes
        .last_code(&newcomer)
        .expect("the link let a code out");
    let (status, login) = app.verify(&newcomer, &otp).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(login["isNewUser"], true);
    let token = login["accessToken"].as_str().unwrap();
    let (status, joined) = app
        .post(&format!("/api/invites/{code}/accept"), token, json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(joined["name"], "Tetangga");
}
