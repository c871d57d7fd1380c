def test_repro(api):
    r = api.post("/api/v1/datasets", json={"name": "d"})
    r = api.post("/api/v1/datasets/d/items", json={"input": 5})
    print(r.status_code, r.text[:300])
    r = api.get("/api/v1/datasets/d/versions/1/items")
    print(r.status_code, r.text[:3000])
    r = api.get("/api/v1/datasets/d")
    print(r.status_code, r.text[:3000])
