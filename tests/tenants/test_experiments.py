"""A/B experiments: assignment, the chat path under a variant, results with their statistics,
and the REST API with its roles."""

import math
import random
from collections import Counter

from django.contrib.auth import get_user_model
from scipy import stats as scipy_stats

from chat.models import Conversation, Message
from tenants import stats
from tenants.experiment_results import experiment_results
from tenants.experiments import BUCKETS, assign, bucket, variant_for_bucket
from tenants.models import Experiment, Membership, Variant
from tenants.models import Role as MemberRole
from tenants.selectors import forget_chat_configs
from testkit.fake_openai import FakeOpenAI
from testkit.world import World, client_for, make_user
from testkit.ws import ask, open_chat


def experiment(world: World, weights: tuple[int, ...], **treatment: object) -> Experiment:
    made = Experiment.objects.create(tenant=world.acme, name="prompt test")
    for index, weight in enumerate(weights):
        Variant.objects.create(
            experiment=made,
            name="control" if index == 0 else f"v{index}",
            is_control=index == 0,
            weight=weight,
            **(treatment if index else {}),
        )
    return made


# -- assignment -----------------------------------------------------------------------------


def test_assignment_follows_the_weights_over_ten_thousand_users() -> None:
    variants = [Variant(pk=i + 1, name=f"v{i}", weight=w) for i, w in enumerate((50, 30, 20))]
    counts = Counter(
        variant_for_bucket(variants, bucket(experiment_id=7, user_id=user)).name for user in range(10_000)
    )
    observed = [counts["v0"], counts["v1"], counts["v2"]]
    chi2, p = scipy_stats.chisquare(observed, [5000, 3000, 2000])
    assert p > 0.001, (observed, chi2)
    # Deterministic: the same user, the same bucket, every time.
    assert all(bucket(experiment_id=7, user_id=u) == bucket(experiment_id=7, user_id=u) for u in range(100))
    assert {bucket(experiment_id=7, user_id=u) for u in range(1000)} <= set(range(BUCKETS))


def test_an_assignment_sticks_when_the_weights_change(world: World) -> None:
    running = experiment(world, (50, 50))
    users = [make_user(f"u{i}") for i in range(40)]
    first = {user.pk: assign(experiment=running, user_id=user.pk).name for user in users}
    running.variants.filter(name="control").update(weight=0)
    running.variants.filter(name="v1").update(weight=100)
    assert {user.pk: assign(experiment=running, user_id=user.pk).name for user in users} == first
    assert "control" in first.values()  # some stayed in control despite its weight now being 0
    newcomer = make_user("newcomer")
    assert assign(experiment=running, user_id=newcomer.pk).name == "v1"


# -- the chat path under a variant ----------------------------------------------------------


async def test_a_conversation_runs_in_its_variant_and_records_it(world: World, fake_llm: FakeOpenAI) -> None:
    from asgiref.sync import sync_to_async

    running = await sync_to_async(experiment)(
        world, (0, 100), system_prompt="Variant prompt.", model="gpt-4o"
    )
    forget_chat_configs()
    communicator, ready = await open_chat(world.token(world.alice, world.acme))
    done = (await ask(communicator, "hello [[tokens=2]]"))[-1]
    await communicator.disconnect()
    call = fake_llm.calls[-1]
    assert call.body["model"] == "gpt-4o" and call.messages[0]["content"] == "Variant prompt."
    assert done["model"] == "gpt-4o"
    conversation = (
        await Conversation.objects.for_tenant(world.acme.pk)
        .select_related("variant")
        .aget(pk=ready["conversation_id"])
    )
    assert conversation.variant is not None and conversation.variant.name == "v1"
    variants = Message.objects.for_tenant(world.acme.pk).filter(conversation=conversation)
    assert [m.variant_id async for m in variants] == [conversation.variant.pk] * 2
    assert running.pk == conversation.variant.experiment_id


# -- results and their statistics -----------------------------------------------------------


def seed_outcomes(
    world: World, running: Experiment, variant: str, *, n: int, resolved: int, ratings: list[int]
) -> None:
    chosen = running.variants.get(name=variant)
    user = get_user_model().objects.first()
    Conversation.objects.bulk_create(
        Conversation(
            tenant=world.acme,
            user=user,
            variant=chosen,
            resolved=i < resolved,
            escalated=i % 10 == 0,
            rating=ratings[i] if i < len(ratings) else None,
        )
        for i in range(n)
    )


def test_results_give_sizes_intervals_and_tests_with_a_known_answer(world: World) -> None:
    running = experiment(world, (50, 50))
    rng = random.Random(3)
    control_ratings = [rng.choice([2, 3, 3, 4, 4, 5]) for _ in range(120)]
    treated_ratings = [rng.choice([3, 4, 4, 5, 5, 5]) for _ in range(130)]
    seed_outcomes(world, running, "control", n=200, resolved=40, ratings=control_ratings)
    seed_outcomes(world, running, "v1", n=200, resolved=70, ratings=treated_ratings)

    control, treated = experiment_results(tenant_id=world.acme.pk, experiment_id=running.pk)["variants"]
    assert (control["conversations"], treated["conversations"]) == (200, 200)
    assert control["resolution_rate"]["value"] == 0.2 and treated["resolution_rate"]["value"] == 0.35
    low, high = treated["resolution_rate"]["low"], treated["resolution_rate"]["high"]
    assert 0.287 < low < 0.29 and 0.418 < high < 0.42  # Wilson 95 %: [0.2883, 0.4185]

    resolution = treated["against_control"]["resolution_rate"]
    pooled = 110 / 400
    z = (0.35 - 0.2) / math.sqrt(pooled * (1 - pooled) * (2 / 200))
    assert math.isclose(resolution["statistic"], z) and math.isclose(
        resolution["statistic"], 3.3594, rel_tol=1e-4
    )
    assert math.isclose(resolution["p_value"], 2 * scipy_stats.norm.sf(z))
    assert resolution["decision"] == "significant"

    csat = treated["against_control"]["csat_mean"]
    expected = scipy_stats.ttest_ind(treated_ratings, control_ratings, equal_var=False)
    assert math.isclose(csat["statistic"], expected.statistic) and math.isclose(
        csat["p_value"], expected.pvalue
    )
    interval = scipy_stats.t.interval(
        0.95, len(treated_ratings) - 1, loc=sum(treated_ratings) / 130, scale=scipy_stats.sem(treated_ratings)
    )
    assert math.isclose(treated["csat_mean"]["low"], interval[0]) and math.isclose(
        treated["csat_mean"]["high"], interval[1]
    )
    assert treated["against_control"]["escalation_rate"]["decision"] == "no significant difference"


def test_a_small_sample_is_too_small_to_decide(world: World) -> None:
    running = experiment(world, (50, 50))
    seed_outcomes(world, running, "control", n=12, resolved=1, ratings=[1, 2, 1])
    seed_outcomes(world, running, "v1", n=12, resolved=11, ratings=[5, 5, 5])
    treated = experiment_results(tenant_id=world.acme.pk, experiment_id=running.pk)["variants"][1]
    assert treated["against_control"]["resolution_rate"]["decision"] == "too small to decide"
    assert treated["against_control"]["csat_mean"]["decision"] == "too small to decide"


def test_the_t_distribution_matches_scipy() -> None:
    for t, df in [(0.5, 3.2), (2.1, 7), (3.9, 41.7), (1.0, 1000)]:
        assert math.isclose(stats.t_two_sided_p(t, df), 2 * scipy_stats.t.sf(t, df), rel_tol=1e-9)
    assert math.isclose(stats.t_quantile_975(12.5), scipy_stats.t.ppf(0.975, 12.5), rel_tol=1e-9)


# -- the REST API ---------------------------------------------------------------------------

PAYLOAD = {
    "name": "shorter answers",
    "variants": [
        {"name": "control", "is_control": True, "weight": 50},
        {"name": "brief", "weight": 50, "system_prompt": "Be very brief.", "max_tokens": 200},
    ],
}


def test_owners_manage_experiments_viewers_read_them_members_do_not(world: World) -> None:
    viewer = make_user("vera")
    Membership.objects.create(tenant=world.acme, user=viewer, role=MemberRole.VIEWER)
    owner = client_for(world.token(world.alice, world.acme))
    created = owner.post("/api/v1/experiments/", PAYLOAD, format="json")
    assert created.status_code == 201, created.json()
    experiment_id = created.json()["id"]
    assert [v["name"] for v in created.json()["variants"]] == ["control", "brief"]

    reader = client_for(world.token(viewer, world.acme))
    assert reader.get("/api/v1/experiments/").json()[0]["id"] == experiment_id
    assert reader.get(f"/api/v1/experiments/{experiment_id}/results/").status_code == 200
    assert reader.post("/api/v1/experiments/", PAYLOAD, format="json").status_code == 403
    member = client_for(world.token(world.bob, world.acme))
    refused = member.get("/api/v1/experiments/")
    assert refused.status_code == 403 and refused.json()["code"] == "permission_denied"

    ended = owner.patch(f"/api/v1/experiments/{experiment_id}/", {"active": False}, format="json")
    assert ended.status_code == 200 and ended.json()["ended_at"] is not None
    reweighted = owner.patch(
        f"/api/v1/experiments/{experiment_id}/",
        {
            "variants": [
                {"name": "control", "is_control": True, "weight": 20},
                {"name": "brief", "weight": 80},
            ]
        },
        format="json",
    )
    assert reweighted.status_code == 200 and [v["weight"] for v in reweighted.json()["variants"]] == [20, 80]


def test_invalid_experiments_are_refused_with_the_reason(world: World) -> None:
    owner = client_for(world.token(world.alice, world.acme))
    for variants, reason in [
        ([{"name": "a", "is_control": True, "weight": 100}], "at least two"),
        ([{"name": "a", "weight": 50}, {"name": "b", "weight": 50}], "control"),
        ([{"name": "a", "is_control": True, "weight": 50}, {"name": "b", "weight": 40}], "sum to 100"),
    ]:
        response = owner.post("/api/v1/experiments/", {"name": "x", "variants": variants}, format="json")
        assert response.status_code == 400 and reason in str(response.json()), response.json()


def test_another_tenants_experiment_is_not_found_on_every_route(world: World) -> None:
    theirs = experiment(world, (50, 50))
    carol = make_user("carol-owner")
    Membership.objects.create(tenant=world.globex, user=carol, role=MemberRole.OWNER)
    intruder = client_for(world.token(carol, world.globex))
    for method, path in [
        ("get", f"/api/v1/experiments/{theirs.pk}/"),
        ("patch", f"/api/v1/experiments/{theirs.pk}/"),
        ("delete", f"/api/v1/experiments/{theirs.pk}/"),
        ("get", f"/api/v1/experiments/{theirs.pk}/results/"),
    ]:
        response = getattr(intruder, method)(path, {"name": "mine now"}, format="json")
        assert response.status_code == 404, (method, path, response.status_code)
    assert intruder.get("/api/v1/experiments/").json() == []
    assert Experiment.objects.for_tenant(world.acme.pk).get(pk=theirs.pk).name == "prompt test"
