"""The chapter's three tasks as coroutines, for asyncio.

    import asyncio
    from conctutor import record
    from conctutor.aio import consulta_dados, processa_dados, grava_log

    async def main():
        dados = await consulta_dados()
        await asyncio.gather(processa_dados(dados), grava_log())

    with record() as timeline:
        asyncio.run(main())

Same names, prints and return value as `conctutor.tasks`, and the same
adjustable, scaled ``segundos=``; they wait with ``await asyncio.sleep``, so
the event loop runs other tasks meanwhile. Each asyncio task gets a lane of
its own on the timeline, all on the loop's thread. Their durations are the
same settings as the threaded versions' (`conctutor.set_durations`): the
registered default belongs to the name.
"""

from __future__ import annotations

from ..engine.recorder import await_wait, chapter_task


@chapter_task("io")
async def consulta_dados(segundos: float = 2.0) -> str:
    """Simula uma consulta: imprime, espera `segundos` sem travar o laço de eventos e devolve ``"dados"``."""
    print("Consultando dados...")
    await await_wait(segundos)
    return "dados"


@chapter_task("io")
async def processa_dados(dados: str, segundos: float = 2.0) -> None:
    """Simula o processamento de `dados`: imprime e espera `segundos` sem travar o laço de eventos."""
    print("Processando dados...")
    await await_wait(segundos)


processa_dados.needs = ("consulta_dados",)  # type: ignore[attr-defined]  # the data it processes: the ideal time waits


@chapter_task("io")
async def grava_log(segundos: float = 2.0) -> None:
    """Simula a gravação de um log: imprime e espera `segundos` sem travar o laço de eventos."""
    print("Gravando log...")
    await await_wait(segundos)
