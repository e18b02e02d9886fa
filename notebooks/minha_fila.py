# Solução do exercício 3: tente antes de olhar!
from celery import shared_task


@shared_task(name="minha_fila.quadrado")
def quadrado(x):
    return x * x
