//! Presence.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_follows_the_first_and_last_socket_and_reaches_only_contacts() {
    let app = TestApp::spawn().await;
    let ana = app.login(&phone(3030)).await;
    let budi = app.login(&phone(3031)).await;
    let citra = app.login(&phone(3032)).await;
    let dewi = app.login(&phone(3033)).await;
    app.private_chat(&ana, &budi).await;
    // Citra shares a chat with Budi only, never with Ana.
    app.private_chat(&citra, &budi).await;
    app.private_chat(&citra, &dewi).await;
    let mut citra_ws = app.joined_ws(&citra).await;
    let mut budi_ws = app.joined_ws(&budi).await;

    let (_, profile) = app
        .get(&format!("/api/users/{}", ana.id), &budi.access)
        .await;
    assert_eq!(
        (&profile["isOnline"], &profile["lastSeen"]),
        (&json!(false), &Value::Null),
        "{profile}"
    );

    let ana_first = app.joined_ws(&ana).await;
    let online = budi_ws.wait_for("user_status").await;
    assert_eq!(
        online,
        json!({ "userId": ana.id, "status": "online", "lastSeen": null }),
        "never seen before: lastSeen null"
    );
    let (_, profile) = app
        .get(&format!("/api/users/{}", ana.id), &budi.access)
        .await;
    assert_eq!(profile["isOnline"], true, "{profile}");

    // A second device coming and going changes nothing.
    let ana_second = app.joined_ws(&ana).await;
    assert!(
        !budi_ws.receives_within("user_status", QUIET).await,
        "a second socket does not announce anything"
    );
    hang_up(ana_second).await;
    assert!(
        !budi_ws.receives_within("user_status", QUIET).await,
        "closing one of two sockets does not announce anything"
    );
    let (_, profile) = app
        .get(&format!("/api/users/{}", ana.id), &budi.access)
        .await;
    assert_eq!(
        (&profile["isOnline"], &profile["lastSeen"]),
        (&json!(true), &Value::Null),
        "still online on the first socket: {profile}"
    );

    hang_up(ana_first).await;
    let offline = budi_ws.wait_for("user_status").await;
    assert_eq!(
        (&offline["userId"], &offline["status"]),
        (&json!(ana.id), &json!("offline")),
        "{offline}"
    );
    let last_seen = offline["lastSeen"]
        .as_str()
        .expect("going offline carries lastSeen")
        .to_owned();
    let (_, profile) = app
        .get(&format!("/api/users/{}", ana.id), &budi.access)
        .await;
    assert_eq!(profile["isOnline"], false, "{profile}");
    assert_eq!(
        profile["lastSeen"],
        last_seen.as_str(),
        "the stored lastSeen is the announced one"
    );

    // Coming back announces the stored lastSeen.
    let _ana_again = app.joined_ws(&ana).await;
    let online = budi_ws.wait_for("user_status").await;
    assert_eq!(
        online,
        json!({ "userId": ana.id, "status": "online", "lastSeen": last_seen })
    );

    // Citra heard of Budi coming online, never of Ana.
    let mut heard = Vec::new();
    let _ = tokio::time::timeout(QUIET, async {
        while let Some(frame) = citra_ws.next_frame().await {
            if frame["event"] == "user_status" {
                heard.push(frame["data"]["userId"].clone());
            }
        }
    })
    .await;
    assert_eq!(
        heard,
        [json!(budi.id)],
        "someone who shares no chat with Ana hears nothing of her"
    );
}
