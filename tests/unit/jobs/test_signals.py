import signal

from model_trainer.core.jobs.signals import signal_status, stop_on_signals


def test_sigterm_and_sigint_stop_the_job_then_the_handlers_come_back() -> None:
    before = (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT))
    stops: list[int] = []
    with stop_on_signals(stops.append):
        signal.raise_signal(signal.SIGTERM)
        signal.raise_signal(signal.SIGINT)
    assert stops == [signal.SIGTERM, signal.SIGINT]
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before


def test_a_signal_ends_a_process_with_128_plus_its_number() -> None:
    assert (signal_status(signal.SIGINT), signal_status(signal.SIGTERM)) == (130, 143)
