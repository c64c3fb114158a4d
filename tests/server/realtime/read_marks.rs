//! Read marks.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mark_read_is_acked_and_the_other_participant_is_told() {
    let app = TestApp::spawn().await;
    let ana = app.login(&phone(3140)).await;
    let budi = app.login(&phone(3141)).await;
    let chat = app.private_chat(&ana, &budi).await;
    app.send_message(&ana, &chat, "one").await;
    app.send_message(&ana, &chat, "two").await;
    let mut ana_ws = app.joined_ws(&ana).await;
    let mut budi_ws = app.joined_ws(&budi).await;

    let ack = budi_ws
        .request("mark_read", json!({ "chatId": chat, "seq": 2 }))
        .await;
    assert_eq!(ack["event"], "ack", "{ack}");
    let mark = ack["data"].clone();
    assert_eq!(
        (&mark["chatId"], &mark["userId"], &mark["seq"]),
        (&json!(chat), &json!(budi.id), &json!(2)),
        "{mark}"
    );
    assert!(
        mark["readAt"].as_str().is_some_and(|at| at.ends_with('Z')),
        "{mark}"
    );
    let told = ana_ws.wait_for("message_read").await;
    assert_eq!(told, mark, "the sender hears exactly what was acked");

    let messages = messages_of(&app, &ana, &chat).await;
    assert_eq!(messages[1]["isRead"], true, "{}", messages[1]);
    assert_eq!(messages[1]["readBy"][0]["userId"], budi.id);
}
