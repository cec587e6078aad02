"""A local fake of Notion's API over real HTTP, for tests that drive the real notion-client.

    from tests.fakenotion import FakeNotion, TOKEN

    with FakeNotion() as fake:                       # 127.0.0.1, random port
        database, source = fake.add_database()       # the properties syncd needs
        fake.fail("/pages$", 529, retry_after=0)     # faults: fail(), slow(), drop()
        ...  # notion_client.Client(auth=TOKEN, base_url=fake.url)
        fake.requests_to("/blocks/", method="PATCH")  # the request log

It checks what real Notion checks (`shapes`): a request Notion would refuse fails the test.
"""

from .api import FakeNotion
from .server import TOKEN, VERSION

__all__ = ["TOKEN", "VERSION", "FakeNotion"]
