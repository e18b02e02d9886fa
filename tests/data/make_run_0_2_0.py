"""How tests/data/run-0.2.0.json was made, with conctutor 0.2.0 (format version 2): kept so the fixture can be
understood, not re-run (a later conctutor writes a later format).

    CONCTUTOR_TIME_SCALE=0.05 python tests/data/make_run_0_2_0.py tests/data/run-0.2.0.json
"""
import asyncio
import concurrent.futures
import queue
import sys

from conctutor import calcula, consulta_dados, grava_log, processa_dados, record, task


@task
def falha():
    raise ValueError("de propósito")

@task
async def espera():
    await asyncio.sleep(0.02)

def main():
    q = queue.Queue()
    with record(watch={"itens": q.qsize}) as timeline:
        dados = consulta_dados()
        q.put(1)
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            futures = [pool.submit(processa_dados, dados), pool.submit(grava_log)]
            for future in futures:
                future.result()
        with concurrent.futures.ProcessPoolExecutor(1) as pool:
            pool.submit(calcula, 0.5).result()
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            list(pool.map(calcula, [2.0, 2.0]))
        try:
            falha()
        except ValueError:
            pass
        async def both():
            await asyncio.gather(espera(), espera())
        asyncio.run(both())
    timeline.save(sys.argv[1])
    print(len(timeline.spans), "spans", timeline.workers)

if __name__ == "__main__":
    main()
