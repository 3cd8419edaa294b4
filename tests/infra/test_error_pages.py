"""What no view answered: a page for people (styled like the others, with a way back), a JSON
body for programs (the API, the widget's endpoints, or a client asking for JSON)."""

from django.test import Client

from testkit.world import PASSWORD, World


def test_people_get_a_page_and_programs_get_json(world: World) -> None:
    anyone = Client()
    page = anyone.get("/no/such/page/")
    assert (
        page.status_code == 404
        and b"There is nothing here" in page.content
        and b"Back to the chat" in page.content
    )
    for path in ("/api/v1/no-such-thing/", "/widget/site_nope/nothing/here/"):
        answer = anyone.get(path)
        assert answer.status_code == 404 and answer.json() == {"detail": "not found", "code": "not_found"}, (
            path
        )
    panel = anyone.get("/widget/site_nope/")  # the panel's page is for the visitor: a page
    assert panel.status_code == 404 and b"There is nothing here" in panel.content
    asked = anyone.get("/no/such/page/", HTTP_ACCEPT="application/json")
    assert asked.status_code == 404 and asked.json()["code"] == "not_found"

    member = Client()
    assert member.login(username="bob", password=PASSWORD)
    refused = member.get("/console/team/")
    assert refused.status_code == 403 and b"This page is not for your account" in refused.content
