"""The long-lived engine child (``engine/child.py``): run after run of one compiled ruleset in one
process, each answering exactly as a child of its own would; a child that dies, wears out or is
interrupted is replaced, and the run it was making is made elsewhere, never lost."""

from __future__ import annotations

import datetime as dt
import os
import signal
from pathlib import Path

import pytest

from coherence_rules.engine import child as child_mod
from coherence_rules.engine import isolation
from coherence_rules.session import Rulesets, Session

POLICIES = Path(__file__).resolve().parents[2] / "policies"
AS_OF = dt.date(2026, 11, 23)


def _content(res):
    return ([(m.criterion, m.bindings, m.guards) for m in res.matches],
            {k: (v.type, v.values) for k, v in res.derived.items()},
            {k: [(d.rule, d.premises, d.guards) for d in ds] for k, ds in sorted(res.derivations.items())})


@pytest.fixture(scope="module")
def rules():
    return Rulesets(None)


@pytest.fixture
def sets(rules):
    """The programs of three shipped sets and their compiled rulesets ."""
    out = []
    for name in ("mauritius", "uk-health-workforce", "agreements/benelux-labour-treaty-1956"):
        with_paths = [] if name == "mauritius" else [str(POLICIES / "reference")]
        s = Session([str(POLICIES / name)], rules=rules, as_of=AS_OF, with_paths=with_paths)
        s.run_until("compile")
        assert not s.stopped, name
        out.append((name, s.program, s.compiled))
    yield out
    child_mod.close_all()


def _reaped(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return False


def test_runs_in_the_long_lived_child_answer_as_a_child_of_their_own(sets):
    """Each set, run in turn in the one child (twice round, so later runs follow others' states),
    gives the matches, derived facts and derivations of its own forked run; one child per
    compiled ruleset made them all."""
    alone = {name: _content(isolation.run_compiled(c, p.facts, AS_OF)) for name, p, c in sets}
    assert all(c[0] for c in alone.values()), "every set has findings to compare"
    pids: dict[int, set] = {}
    for _ in range(2):
        for name, program, compiled in sets:
            res = isolation.run_compiled(compiled, program.facts, AS_OF, reuse_child=True)
            assert _content(res) == alone[name], name
            pids.setdefault(id(compiled), set()).add(child_mod.child_for(compiled).pid)
    assert sorted(len(p) for p in pids.values()) == [1] * len({id(c) for _, _, c in sets})


def test_a_child_killed_between_runs_is_replaced_and_the_run_still_made(sets):
    name, program, compiled = sets[0]
    want = _content(isolation.run_compiled(compiled, program.facts, AS_OF))
    first = child_mod.child_for(compiled)
    isolation.run_compiled(compiled, program.facts, AS_OF, reuse_child=True)
    os.kill(first.pid, signal.SIGKILL)
    res = isolation.run_compiled(compiled, program.facts, AS_OF, reuse_child=True)
    assert _content(res) == want
    assert _reaped(first.pid)
    second = child_mod.child_for(compiled)
    assert second.pid != first.pid
    assert _content(isolation.run_compiled(compiled, program.facts, AS_OF, reuse_child=True)) == want
    assert child_mod.child_for(compiled) is second


def test_a_crash_inside_a_run_is_reported_as_by_a_child_of_its_own(sets, monkeypatch):
    """The engine dying in the long-lived child: the run is made again in a child of its own,
    which dies the same way and reports it (E502's error), and the dead child is reaped."""
    from coherence_rules.engine.durable_run import EngineRun
    from coherence_rules.engine.records import EngineError

    _, program, compiled = sets[0]
    used = child_mod.child_for(compiled)
    real = EngineRun.run

    def crash(self, facts=None, first=True):
        os.kill(os.getpid(), signal.SIGKILL)
        return real(self, facts, first)

    child_mod.close_all()
    monkeypatch.setattr(EngineRun, "run", crash)
    used = child_mod.child_for(compiled)  # forked with the crashing run
    with pytest.raises(EngineError, match="signal 9"):
        isolation.run_compiled(compiled, program.facts, AS_OF, reuse_child=True)
    assert _reaped(used.pid)


def test_a_worn_child_is_replaced(sets, monkeypatch):
    monkeypatch.setattr(child_mod, "RUNS_PER_CHILD", 3)
    _, program, compiled = sets[0]
    pids = []
    for _ in range(7):
        isolation.run_compiled(compiled, program.facts, AS_OF, reuse_child=True)
        pids.append(child_mod.child_for(compiled).pid)
    assert len(set(pids)) == 3  # runs 1-3, 4-6, 7
    assert all(_reaped(p) for p in set(pids) - {pids[-1]})


def test_a_child_grown_too_large_is_replaced(sets):
    _, program, compiled = sets[0]
    isolation.run_compiled(compiled, program.facts, AS_OF, reuse_child=True)
    first = child_mod.child_for(compiled)
    assert 0 <= first.grown < child_mod.MEMORY_PER_CHILD
    first.grown = child_mod.MEMORY_PER_CHILD  # as the child reports once its peak has grown so far
    isolation.run_compiled(compiled, program.facts, AS_OF, reuse_child=True)
    assert _reaped(first.pid)
    assert child_mod.child_for(compiled).pid != first.pid


def test_fault_injection_and_large_runs_go_to_a_child_of_their_own(sets, monkeypatch):
    _, program, compiled = sets[0]
    assert isolation._reusable(program.facts)
    monkeypatch.setattr(child_mod, "MAX_FACTS", len(program.facts) - 1)
    assert not isolation._reusable(program.facts)
    monkeypatch.setattr(child_mod, "MAX_FACTS", isolation.SPLIT_MIN_FACTS)
    monkeypatch.setenv("COHERENCE_ENGINE_FAULT", "kill")
    assert not isolation._reusable(program.facts)
    from coherence_rules.engine.records import EngineError

    with pytest.raises(EngineError):
        isolation.run_compiled(compiled, program.facts, AS_OF, reuse_child=True)


def test_close_all_ends_every_child(sets):
    _, program, compiled = sets[0]
    isolation.run_compiled(compiled, program.facts, AS_OF, reuse_child=True)
    pid = child_mod.child_for(compiled).pid
    child_mod.close_all()
    assert _reaped(pid)
    assert child_mod._children == {}


def test_a_warm_session_forks_once_for_many_checks(tmp_path, monkeypatch):
    """What the long-lived child is for: re-checks after edits fork no child per check."""
    import shutil

    from coherence_rules.warm import WarmSession

    shutil.copytree(POLICIES / "mauritius", tmp_path / "mauritius")
    target = tmp_path / "mauritius" / "institutions.policy"
    original = target.read_text(encoding="utf-8")
    forks = []
    real_fork = os.fork

    def counting_fork():
        pid = real_fork()
        if pid:
            forks.append(pid)
        return pid

    child_mod.close_all()
    monkeypatch.setattr(os, "fork", counting_fork)
    warm = WarmSession([str(tmp_path / "mauritius")], as_of=AS_OF)
    try:
        reports = []
        for i in range(4):
            target.write_text(original + f"\n# draft {i}\n", encoding="utf-8")
            reports.append(warm.check(changed=[target]).render(format="json"))
        assert warm.session.stopped is None
        assert len(forks) == 1, forks
        assert len(set(reports)) == 1
        cold = Session([str(tmp_path / "mauritius")], as_of=AS_OF, format="json").render()
        assert reports[-1] == cold
    finally:
        child_mod.close_all()


def test_a_closed_child_is_not_written_to(sets):
    """A caller that got the child before another closed it gets None (the run goes elsewhere),
    never a write to a file descriptor the process may have given to something else since."""
    _, program, compiled = sets[0]
    child = child_mod.child_for(compiled)
    child.close()
    assert child.run(program.facts, AS_OF, 10_000) is None
    assert _reaped(child.pid)


def test_no_child_to_be_had_means_a_child_of_its_own(sets, monkeypatch):
    _, program, compiled = sets[0]
    want = _content(isolation.run_compiled(compiled, program.facts, AS_OF))
    child_mod.close_all()

    def refused(compiled):
        raise OSError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(child_mod, "EngineChild", refused)
    assert _content(isolation.run_compiled(compiled, program.facts, AS_OF, reuse_child=True)) == want
    assert child_mod._children == {}


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
def test_the_child_holds_only_its_pipes(sets, tmp_path):
    """A server's listening socket, an editor's pipes on standard input and output, another
    child's pipes: none of them stays open in the long-lived child after its parent closes them."""
    _, program, compiled = sets[0]
    child_mod.close_all()
    held = open(tmp_path / "held.txt", "w")
    try:
        isolation.run_compiled(compiled, program.facts, AS_OF, reuse_child=True)
        child = child_mod.child_for(compiled)
        fds = {int(fd): os.readlink(f"/proc/{child.pid}/fd/{fd}") for fd in os.listdir(f"/proc/{child.pid}/fd")}
    finally:
        held.close()
    assert fds[0] == os.devnull and fds[1] == os.devnull
    others = {fd: target for fd, target in fds.items() if fd > 2}
    assert len(others) == 2 and all(t.startswith("pipe:") for t in others.values()), fds
