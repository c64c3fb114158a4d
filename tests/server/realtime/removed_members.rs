//! Removed members.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_member_is_told_and_then_receives_nothing_of_the_chat() {
    let app = TestApp::spawn().await;
    let ana = app.login(&phone(3040)).await;
    let budi = app.login(&phone(3041)).await;
    let citra = app.login(&phone(3042)).await;
    let chat = app.group(&ana, &[&budi, &citra], "team").await;
    let mut budi_ws = app.joined_ws(&budi).await;
    let mut citra_ws = app.joined_ws(&citra).await;

    app.send_message(&ana, &chat, "before").await;
    assert_eq!(
        next_message(&mut citra_ws, &chat).await["content"],
        "before",
        "Citra hears the chat while a member"
    );
    assert_eq!(next_message(&mut budi_ws, &chat).await["content"], "before");

    let (status, body) = app
        .call(
            Method::DELETE,
            &format!("/api/chats/{chat}/participants/{}", citra.id),
            Some(&ana.access),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let update = citra_ws.wait_for("chat_updated").await;
    assert_eq!(update["id"], chat, "{update}");
    assert!(
        !update["participants"]
            .as_array()
            .unwrap()
            .contains(&json!(citra.id)),
        "{update}"
    );
    let update = budi_ws.wait_for("chat_updated").await;
    assert_eq!(update["participants"], json!([ana.id, budi.id]), "{update}");

    app.send_message(&ana, &chat, "after").await;
    assert_eq!(next_message(&mut budi_ws, &chat).await["content"], "after");
    assert!(
        !citra_ws.receives_within("new_message", QUIET).await,
        "a removed member receives nothing more of the chat"
    );
    let answer = citra_ws
        .request(
            "send_message",
            json!({ "chatId": chat, "content": "still here?" }),
        )
        .await;
    assert_eq!(answer["data"]["code"], "not_found", "{answer}");
}
